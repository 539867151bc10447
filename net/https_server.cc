#include "net/https_server.h"

#include <httplib.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace capif {
namespace {

// Per-connection cache of the caller's identity ("" = no usable identity), so the client
// certificate is parsed once per connection, not once per request.
int IdentityIndex() {
  static const int index = SSL_get_ex_new_index(
      0, nullptr, nullptr, nullptr,
      [](void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
        delete static_cast<std::string*>(ptr);
      });
  return index;
}

std::optional<SpiffeId> CallerOf(const SSL* ssl) {
  if (ssl == nullptr) return std::nullopt;
  auto* cached = static_cast<std::string*>(SSL_get_ex_data(ssl, IdentityIndex()));
  if (cached == nullptr) {
    cached = new std::string();
    X509* peer = SSL_get0_peer_certificate(ssl);
    if (peer != nullptr && SSL_get_verify_result(ssl) == X509_V_OK) {
      X509Cert cert(X509_dup(peer));
      std::vector<std::string> uris = cert.UriSans();
      if (uris.size() == 1 && SpiffeId::Parse(uris[0]).ok()) *cached = uris[0];
    }
    SSL_set_ex_data(const_cast<SSL*>(ssl), IdentityIndex(), cached);
  }
  if (cached->empty()) return std::nullopt;
  return *SpiffeId::Parse(*cached);
}

void WriteProblem(const absl::Status& status, httplib::Response& res) {
  auto [http, problem] = ProblemFromStatus(status);
  if (http >= 500) LogError("northbound", absl::StrCat("request failed: ", status.ToString()));
  res.status = http;
  res.set_content(problem.dump(), "application/problem+json");
}

bool ConfigureContext(SSL_CTX& ctx, const NorthboundTls& tls) {
  SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(&ctx, SSL_OP_NO_TICKET | SSL_OP_NO_COMPRESSION |
                                SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  static const unsigned char kSessionContext[] = "capif-fed-northbound";
  SSL_CTX_set_session_id_context(&ctx, kSessionContext, sizeof(kSessionContext) - 1);

  auto chain = X509Cert::ChainFromPem(tls.certificate_chain_pem);
  if (!chain.ok() || SSL_CTX_use_certificate(&ctx, (*chain)[0].get()) != 1) return false;
  for (size_t i = 1; i < chain->size(); ++i) {
    if (SSL_CTX_add1_chain_cert(&ctx, (*chain)[i].get()) != 1) return false;
  }
  auto key = EvpKey::FromPrivateKeyPem(tls.private_key_pem);
  if (!key.ok() || SSL_CTX_use_PrivateKey(&ctx, key->get()) != 1) return false;
  if (SSL_CTX_check_private_key(&ctx) != 1) return false;

  X509_STORE* store = X509_STORE_new();
  for (const X509Cert& root : tls.client_roots.roots()) X509_STORE_add_cert(store, root.get());
  SSL_CTX_set_cert_store(&ctx, store);  // takes ownership
  // Ask for a certificate; do not require one (onboarding has none yet).
  SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER, nullptr);
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpsServer>> HttpsServer::Create(
    const NorthboundTls& tls, Options options) {
  std::unique_ptr<HttpsServer> s(new HttpsServer());
  s->options_ = options;
  bool configured = false;
  s->server_ = std::make_unique<httplib::SSLServer>([&](SSL_CTX& ctx) {
    configured = ConfigureContext(ctx, tls) &&
                 (!options.configure_tls || options.configure_tls(ctx));
    return configured;
  });
  if (!configured || !s->server_->is_valid()) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        "northbound TLS: the certificate chain or private key cannot be used");
  }
  s->server_->set_payload_max_length(options.max_body_bytes);
  // cpp-httplib's default also sets SO_REUSEPORT, which would let a second CCF share the port.
  s->server_->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  s->server_->set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;  // a handler already wrote a body
    int http = res.status;
    WriteProblem(RestError(http, http == 404 ? absl::StrCat("no resource at ", req.path)
                           : http == 413 ? "the request body is too large"
                                         : "request refused"),
                 res);
  });
  s->server_->set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        WriteProblem(absl::InternalError(absl::StrCat("handler threw: ", what)), res);
      });
  return s;
}

HttpsServer::~HttpsServer() { Stop(); }

void HttpsServer::Dispatch(const RestHandler& handler, const void* req_ptr, void* res_ptr) {
  const auto& req = *static_cast<const httplib::Request*>(req_ptr);
  auto& res = *static_cast<httplib::Response*>(res_ptr);
  RestRequest r;
  r.method = req.method;
  r.path = req.path;
  for (size_t i = 1; i < req.matches.size(); ++i) r.path_params.push_back(req.matches[i]);
  for (const auto& [k, v] : req.params) r.query.emplace(k, v);
  for (const auto& [k, v] : req.headers) r.headers.emplace(absl::AsciiStrToLower(k), v);
  r.body = req.body;
  r.ssl = req.ssl;
  r.caller = CallerOf(req.ssl);
  absl::StatusOr<RestResponse> out = handler(r);
  if (!out.ok()) {
    WriteProblem(out.status(), res);
    return;
  }
  res.status = out->status;
  for (const auto& [k, v] : out->headers) res.set_header(k, v);
  if (!out->content_type.empty()) res.set_content(out->body, out->content_type.c_str());
}

void HttpsServer::Route(const std::string& method, const std::string& pattern,
                             RestHandler handler) {
  auto h = [this, handler = std::move(handler)](const httplib::Request& req,
                                                httplib::Response& res) {
    Dispatch(handler, &req, &res);
  };
  if (method == "GET") {
    server_->Get(pattern, h);
  } else if (method == "POST") {
    server_->Post(pattern, h);
  } else if (method == "PUT") {
    server_->Put(pattern, h);
  } else if (method == "DELETE") {
    server_->Delete(pattern, h);
  } else if (method == "PATCH") {
    server_->Patch(pattern, h);
  }
}

absl::Status HttpsServer::Bind() {
  if (port_ > 0) return absl::OkStatus();
  if (options_.port == 0) {
    port_ = server_->bind_to_any_port(options_.host);
  } else {
    port_ = server_->bind_to_port(options_.host, options_.port) ? options_.port : -1;
  }
  if (port_ <= 0) {
    port_ = 0;
    return absl::UnavailableError(
        absl::StrCat("northbound: cannot listen on ", options_.host, ":", options_.port));
  }
  return absl::OkStatus();
}

absl::Status HttpsServer::Start() {
  absl::Status bound = Bind();
  if (!bound.ok()) return bound;
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // cpp-httplib 0.11's stop() does nothing until the listening thread has marked the server
  // running; a Stop() right after Start() would then leave that thread in accept() forever.
  // So Start() returns only once the server runs (a start-up handshake, bounded).
  for (int i = 0; i < 10000 && !server_->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!server_->is_running()) return absl::InternalError("northbound: the server did not start");
  return absl::OkStatus();
}

void HttpsServer::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace capif

#include "net/https_server.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <deque>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/evp_key.h"
#include "common/log.h"
#include "common/utf8.h"
#include "common/worker_pool.h"
#include "net/http_input.h"

namespace capif {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

constexpr char kLog[] = "https";

// TLS 1.2: ECDHE key exchange with an AEAD only (TS 33.210 / TS 33.310 profiles); TLS 1.3 suites
// are all AEAD.
constexpr char kTls12Ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305";
constexpr char kTls13Suites[] =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

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

bool ConfigureContext(SSL_CTX& ctx, const NorthboundTls& tls) {
  SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(&ctx, SSL_OP_NO_TICKET | SSL_OP_NO_COMPRESSION |
                                SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_set_cipher_list(&ctx, kTls12Ciphers) != 1) return false;
  if (SSL_CTX_set_ciphersuites(&ctx, kTls13Suites) != 1) return false;
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

// A parse error of the HTTP message (answered 400 and the like), not a transport error.
bool IsHttpError(const error_code& ec) {
  return ec.category() == http::make_error_code(http::error::end_of_stream).category();
}

std::chrono::milliseconds Ms(absl::Duration d) {
  return std::chrono::milliseconds(absl::ToInt64Milliseconds(d));
}

// What goes back to the client; built on a worker or the I/O thread, written by the I/O thread.
struct Reply {
  int status = 200;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  bool close = false;  // end the connection after this answer (its request was not read whole)
  // A deferred answer (RestResponse::deferred): started once the worker is free.
  std::function<void(RestResponder)> deferred;
};

Reply ProblemReply(const absl::Status& status, bool close = false, bool log = true) {
  std::pair<int, nlohmann::json> problem = ProblemFromStatus(status);
  if (problem.first >= 500 && log) {
    LogError(kLog, absl::StrCat("request failed: ", status.ToString()));
  }
  Reply r;
  r.status = problem.first;
  r.content_type = "application/problem+json";
  // Details may quote hostile input: never let dump() throw on it.
  r.body = problem.second.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  r.close = close;
  return r;
}

Reply RefusedReply(int http, absl::string_view detail) {
  return ProblemReply(RestError(http, detail), /*close=*/true, /*log=*/false);
}

struct Counters {
  std::atomic<uint64_t> open_connections{0};
  std::atomic<uint64_t> accepted_connections{0};
  std::atomic<uint64_t> refused_connections{0};
  std::atomic<uint64_t> overloaded_requests{0};
  std::atomic<uint64_t> timeouts{0};
  std::atomic<uint64_t> idle_closes{0};
  std::atomic<uint64_t> accept_errors{0};
  std::atomic<uint64_t> handler_exceptions{0};
};

void Bump(std::atomic<uint64_t>& c) { c.fetch_add(1, std::memory_order_relaxed); }

const char* MethodLabel(absl::string_view method) {
  for (const char* known : {"GET", "POST", "PUT", "PATCH", "DELETE"}) {
    if (method == known) return known;
  }
  return "other";
}

}  // namespace

class HttpsServer::Impl {
 public:
  explicit Impl(Options options) : options_(std::move(options)), ssl_(asio::ssl::context::tls_server) {}
  ~Impl() {
    Stop();
    // asio's context destructor deletes SSL_CTX app data as if asio had set it; configure_tls
    // hooks (sdk/aef) keep their own pointer there.
    SSL_CTX_set_app_data(ssl_.native_handle(), nullptr);
  }

  absl::Status Init(const NorthboundTls& tls) {
    SSL_CTX& ctx = *ssl_.native_handle();
    bool configured =
        ConfigureContext(ctx, tls) && (!options_.configure_tls || options_.configure_tls(ctx));
    ERR_clear_error();
    if (!configured) {
      return absl::InvalidArgumentError(
          "northbound TLS: the certificate chain or private key cannot be used");
    }
    if (options_.io_threads < 1 || options_.worker_threads < 1 || options_.max_connections < 1 ||
        options_.max_header_bytes < 256 || options_.max_header_count < 1) {
      return absl::InvalidArgumentError(
          "HttpsServer: io_threads, worker_threads, max_connections and max_header_count must "
          "be at least 1, max_header_bytes at least 256");
    }
    ioc_.emplace(options_.io_threads);
    return absl::OkStatus();
  }

  RestRouter& router() { return router_; }

  absl::Status Bind() {
    if (port_ > 0) return absl::OkStatus();
    if (!ioc_) return absl::FailedPreconditionError("the server was stopped");
    auto unavailable = [this](const std::string& why) {
      return absl::UnavailableError(absl::StrCat("northbound: cannot listen on ", options_.host,
                                                 ":", options_.port, ": ", why));
    };
    error_code ec;
    tcp::resolver resolver(*ioc_);
    auto endpoints = resolver.resolve(options_.host, std::to_string(options_.port),
                                      tcp::resolver::passive | tcp::resolver::numeric_service, ec);
    if (ec || endpoints.empty()) return unavailable(ec ? ec.message() : "no address");
    tcp::endpoint endpoint = endpoints.begin()->endpoint();
    acceptor_.emplace(asio::make_strand(*ioc_));
    acceptor_->open(endpoint.protocol(), ec);
    // SO_REUSEADDR only (no SO_REUSEPORT: a second CCF must not share the port).
    if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_->bind(endpoint, ec);
    if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      acceptor_.reset();
      return unavailable(ec.message());
    }
    port_ = acceptor_->local_endpoint().port();
    backoff_.emplace(acceptor_->get_executor());
    return absl::OkStatus();
  }

  absl::Status Start() {
    if (!threads_.empty()) return absl::OkStatus();
    if (stopped_) return absl::FailedPreconditionError("the server was stopped");
    if (absl::Status bound = Bind(); !bound.ok()) return bound;
    pool_ = std::make_unique<WorkerPool>(options_.worker_threads, options_.max_queued_requests);
    asio::post(acceptor_->get_executor(), [this] { Accept(); });
    for (int i = 0; i < options_.io_threads; ++i) threads_.emplace_back([this] { RunLoop(); });
    return absl::OkStatus();
  }

  void Stop() {
    if (stopped_.exchange(true)) return;
    if (ioc_) ioc_->stop();
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
    if (pool_) pool_->Shutdown();
    // No new deferred answer can start now; those outstanding must be given (or dropped) before
    // the loop they post to goes away.
    {
      absl::MutexLock lock(&deferred_mu_);
      if (!deferred_mu_.AwaitWithTimeout(absl::Condition(&NoDeferred, &deferred_live_),
                                         absl::Seconds(5))) {
        LogWarning(kLog, absl::StrCat(deferred_live_, " deferred answers still outstanding at stop"));
      }
    }
    // Destroying the loop destroys every pending operation, and with them the connections.
    backoff_.reset();
    acceptor_.reset();
    ioc_.reset();
  }

  int port() const { return port_; }

  HttpsServer::Stats stats() const {
    auto get = [](const std::atomic<uint64_t>& c) { return c.load(std::memory_order_relaxed); };
    HttpsServer::Stats s;
    s.open_connections = get(counters_.open_connections);
    s.accepted_connections = get(counters_.accepted_connections);
    s.refused_connections = get(counters_.refused_connections);
    s.overloaded_requests = get(counters_.overloaded_requests);
    s.timeouts = get(counters_.timeouts);
    s.idle_closes = get(counters_.idle_closes);
    s.accept_errors = get(counters_.accept_errors);
    s.handler_exceptions = get(counters_.handler_exceptions);
    return s;
  }

  const Options& options() const { return options_; }
  asio::ssl::context& ssl() { return ssl_; }
  // Deferred answers not given yet (Connection::Responder).
  void DeferredBegin() {
    absl::MutexLock lock(&deferred_mu_);
    ++deferred_live_;
  }
  void DeferredEnd() {
    absl::MutexLock lock(&deferred_mu_);
    --deferred_live_;
  }
  Counters& counters() { return counters_; }
  WorkerPool& pool() { return *pool_; }

  // The reply for a handler's (or a deferred responder's) answer.
  static Reply ReplyOf(absl::StatusOr<RestResponse> out, bool may_defer) {
    if (!out.ok()) return ProblemReply(out.status());
    Reply reply;
    if (out->deferred) {
      if (may_defer) {
        reply.deferred = std::move(out->deferred);
        return reply;
      }
      return ProblemReply(absl::InternalError("a deferred answer answered with another deferral"));
    }
    reply.status = out->status;
    reply.headers = std::move(out->headers);
    reply.content_type = std::move(out->content_type);
    if (!reply.content_type.empty()) reply.body = std::move(out->body);
    return reply;
  }

  // Runs on a worker: the handler's answer, or a ProblemDetails; never throws.
  Reply RunHandler(const RestHandler& handler, const RestRequest& request) {
    std::string what;
    try {
      return ReplyOf(handler(request), /*may_defer=*/true);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
      what = "unknown exception";
    }
    Bump(counters_.handler_exceptions);
    return ProblemReply(absl::InternalError(absl::StrCat("handler threw: ", what)));
  }

 private:
  void RunLoop() {
    for (;;) {
      try {
        ioc_->run();
        return;
      } catch (const std::exception& e) {
        LogError(kLog, absl::StrCat("I/O loop: ", e.what()));
      } catch (...) {
        LogError(kLog, "I/O loop: unknown exception");
      }
    }
  }

  void Accept();
  void OnAccept(const error_code& ec, tcp::socket socket);

  Options options_;
  Counters counters_;
  asio::ssl::context ssl_;  // outlives every connection (declared before the loop)
  RestRouter router_;
  std::optional<asio::io_context> ioc_;
  static bool NoDeferred(int* live) { return *live == 0; }
  absl::Mutex deferred_mu_;
  int deferred_live_ ABSL_GUARDED_BY(deferred_mu_) = 0;
  std::optional<tcp::acceptor> acceptor_;
  std::optional<asio::steady_timer> backoff_;
  bool accept_failing_ = false;  // on the acceptor's strand
  std::unique_ptr<WorkerPool> pool_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopped_{false};
  int port_ = 0;
};

namespace {

// One client connection. Every method runs on the connection's strand, except that a handler's
// Reply is posted back to it from a worker. One request at a time: while a handler runs, nothing
// is read, so the handler may use the SSL* without racing the I/O thread.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(HttpsServer::Impl* server, tcp::socket socket)
      : server_(server),
        options_(server->options()),
        stream_(std::move(socket), server->ssl()),
        buffer_(options_.max_header_bytes + 64 * 1024) {}
  ~Connection() { server_->counters().open_connections.fetch_sub(1, std::memory_order_relaxed); }

  void Start() {
    error_code ec;
    tcp_layer().socket().set_option(tcp::no_delay(true), ec);
    tcp_layer().expires_after(Ms(options_.handshake_timeout));
    Handshake();
  }

 private:
  beast::tcp_stream& tcp_layer() { return beast::get_lowest_layer(stream_); }

  // Also resumes a handshake a ClientHello callback paused (Options::on_handshake_paused); Asio
  // reports the pause as an error, and the SSL object resumes where it stopped.
  void Handshake() {
    stream_.async_handshake(
        asio::ssl::stream_base::server, [self = shared_from_this()](const error_code& e) {
          SSL* ssl = self->stream_.native_handle();
          if (e && self->options_.on_handshake_paused && SSL_want_client_hello_cb(ssl)) {
            self->options_.on_handshake_paused(ssl, [self] {
              asio::post(self->stream_.get_executor(), [self] { self->Handshake(); });
            });
            return;
          }
          if (e) return self->Fail(e);
          self->ReadHeader();
        });
  }

  // A transport error or deadline: the connection ends without an answer.
  void Fail(const error_code& ec) {
    if (ec == beast::error::timeout) Bump(server_->counters().timeouts);
    Close();
  }

  void Close() {
    error_code ignored;
    tcp_layer().socket().shutdown(tcp::socket::shutdown_both, ignored);
    tcp_layer().close();
  }

  // Keep-alive: wait up to idle_timeout for the first byte of the next request.
  void WaitForNextRequest() {
    if (buffer_.size() > 0) return ReadHeader();
    tcp_layer().expires_after(Ms(options_.idle_timeout));
    stream_.async_read_some(buffer_.prepare(4096),
                            [self = shared_from_this()](const error_code& e, size_t n) {
                              if (e == beast::error::timeout) {
                                Bump(self->server_->counters().idle_closes);
                                return self->Close();
                              }
                              if (e) return self->Close();
                              self->buffer_.commit(n);
                              self->ReadHeader();
                            });
  }

  void ReadHeader() {
    parser_.emplace();
    parser_->header_limit(options_.max_header_bytes);
    parser_->body_limit(options_.max_body_bytes);
    // One deadline for the whole header, however slowly it trickles in.
    tcp_layer().expires_after(Ms(options_.header_timeout));
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](const error_code& e, size_t) {
                              self->OnHeader(e);
                            });
  }

  void OnHeader(const error_code& ec) {
    started_ = absl::Now();
    api_ = "unmatched";
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      return Respond(RefusedReply(431, "the request header is too large"));
    }
    if (ec == http::error::body_limit) {
      return Respond(RefusedReply(413, "the request body is too large"));
    }
    if (ec && (ec == http::error::end_of_stream ||
               !IsHttpError(ec))) {
      return Fail(ec);  // deadline, closed, reset or a TLS error: nobody to answer
    }
    if (ec) return Respond(RefusedReply(400, "malformed HTTP request"));

    const auto& req = parser_->get();
    absl::Status head = CheckRequestHead(
        req, RequestHeadLimits{options_.max_header_count, options_.max_target_bytes});
    if (!head.ok()) {
      return Respond(RefusedReply(ProblemFromStatus(head).first, head.message()));
    }
    if (!parser_->is_done() &&
        absl::EqualsIgnoreCase(std::string(req[http::field::expect]), "100-continue")) {
      auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_,
                                                                      req.version());
      tcp_layer().expires_after(Ms(options_.write_timeout));
      http::async_write(stream_, *cont,
                        [self = shared_from_this(), cont](const error_code& e, size_t) {
                          if (e) return self->Fail(e);
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    if (parser_->is_done()) return Dispatch();
    tcp_layer().expires_after(Ms(options_.body_timeout));
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](const error_code& e, size_t) {
                       if (e == http::error::body_limit) {
                         return self->Respond(RefusedReply(413, "the request body is too large"));
                       }
                       if (e && (e == http::error::end_of_stream ||
                                 e == http::error::partial_message ||
                                 !IsHttpError(e))) {
                         return self->Fail(e);
                       }
                       if (e) return self->Respond(RefusedReply(400, "malformed HTTP request"));
                       self->Dispatch();
                     });
  }

  // The request is read whole: check it, find its route, hand it to a worker.
  void Dispatch() {
    tcp_layer().expires_never();  // the handler's time is not the client's
    keep_alive_ = parser_->get().keep_alive();
    try {
      RestRequest r;
      const RestRoute* route = nullptr;
      absl::Status checked = Prepare(r, route);
      if (!checked.ok()) return Respond(ProblemReply(checked));
      if (route == nullptr) {
        return Respond(ProblemReply(RestError(404, absl::StrCat("no resource at ", r.path))));
      }
      api_ = route->api;
      std::shared_ptr<Connection> self = shared_from_this();
      const RestHandler* handler = &route->handler;
      bool taken = server_->pool().TrySubmit([self, handler, request = std::move(r)] {
        Reply reply;
        try {
          reply = self->server_->RunHandler(*handler, request);
        } catch (...) {
          reply = ProblemReply(absl::InternalError("building the answer failed"));
        }
        return std::function<void()>([self, reply = std::move(reply)]() mutable {
          if (reply.deferred) {
            // The worker is free again; the answer comes through the responder.
            RestResponder responder = self->Responder();
            try {
              reply.deferred(responder);
            } catch (...) {
              responder(absl::InternalError("starting the deferred answer failed"));
            }
            return;
          }
          asio::post(self->stream_.get_executor(), [self, reply = std::move(reply)]() mutable {
            self->Respond(std::move(reply));
          });
        });
      });
      if (!taken) {
        Bump(server_->counters().overloaded_requests);
        Reply busy = ProblemReply(RestError(503, "the server is busy; retry later"),
                                  /*close=*/false, /*log=*/false);
        int64_t seconds = std::max<int64_t>(1, absl::ToInt64Seconds(options_.overload_retry_after));
        busy.headers.emplace_back("Retry-After", absl::StrCat(seconds));
        Respond(std::move(busy));
      }
    } catch (const std::exception& e) {
      Bump(server_->counters().handler_exceptions);
      Respond(ProblemReply(absl::InternalError(absl::StrCat("dispatch: ", e.what())), true));
    }
  }

  // A responder for this connection's request: the first call's answer is sent (posted to the
  // connection's executor); later calls are ignored; dropped uncalled, it answers 500.
  RestResponder Responder() {
    struct Once {
      explicit Once(std::shared_ptr<Connection> c) : conn(std::move(c)), server(conn->server_) {
        server->DeferredBegin();
      }
      ~Once() {
        if (!done.load()) Answer(ProblemReply(absl::InternalError("a deferred answer was dropped")));
        conn.reset();  // released before the server may stop
        server->DeferredEnd();
      }
      void Answer(Reply reply) {
        if (done.exchange(true)) return;
        std::shared_ptr<Connection> c = conn;
        asio::post(c->stream_.get_executor(),
                   [c, reply = std::move(reply)]() mutable { c->Respond(std::move(reply)); });
      }
      std::shared_ptr<Connection> conn;
      HttpsServer::Impl* server;
      std::atomic<bool> done{false};
    };
    auto once = std::make_shared<Once>(shared_from_this());
    return [once](absl::StatusOr<RestResponse> out) {
      Reply reply;
      try {
        reply = HttpsServer::Impl::ReplyOf(std::move(out), /*may_defer=*/false);
      } catch (...) {
        reply = ProblemReply(absl::InternalError("building the deferred answer failed"));
      }
      once->Answer(std::move(reply));
    };
  }

  // The RestRequest for the parsed message, and its route (nullptr: none). 400 for input that
  // is not well-formed: bad percent-encoding, invalid UTF-8 in the path, query, header values or
  // a JSON or form body.
  absl::Status Prepare(RestRequest& r, const RestRoute*& route) {
    absl::Status checked = ToRestRequest(parser_->get(), std::move(parser_->get().body()), &r);
    if (!checked.ok()) return checked;
    r.ssl = stream_.native_handle();
    r.caller = CallerOf(r.ssl);
    absl::StatusOr<const RestRoute*> matched =
        server_->router().Match(r.method, r.path, &r.path_params);
    if (!matched.ok()) return matched.status();
    route = *matched;
    return absl::OkStatus();
  }

  void Respond(Reply reply) {
    auto res = std::make_shared<http::response<http::string_body>>();
    unsigned version = parser_ && parser_->is_header_done() ? parser_->get().version() : 11;
    res->version(version == 10 ? 10 : 11);
    int status = reply.status >= 200 && reply.status <= 599 ? reply.status : 500;
    res->result(static_cast<unsigned>(status));
    if (options_.metrics != nullptr) {
      const char* method = "other";
      if (parser_ && parser_->is_header_done()) {
        auto m = parser_->get().method_string();
        method = MethodLabel(absl::string_view(m.data(), m.size()));
      }
      options_.metrics->Record({api_, method, absl::StrCat(status)}, absl::Now() - started_);
    }
    for (const auto& h : reply.headers) {
      // A handler's header must not split the response.
      if (h.first.find_first_of("\r\n:") != std::string::npos ||
          h.second.find_first_of("\r\n") != std::string::npos || h.first.empty()) {
        continue;
      }
      res->set(h.first, h.second);
    }
    // Every "unavailable" or "timed out" answer tells the client when to come back, whichever
    // layer produced it (a peer outage in a handler, a deadline here).
    if ((status == 503 || status == 504) && res->find(http::field::retry_after) == res->end()) {
      res->set(http::field::retry_after,
               absl::StrCat(std::max<int64_t>(
                   1, absl::ToInt64Seconds(options_.unavailable_retry_after))));
    }
    bool bodiless = status == 204 || status == 304;
    if (!bodiless && !reply.content_type.empty()) {
      res->set(http::field::content_type, reply.content_type);
      res->body() = std::move(reply.body);
    }
    bool keep = !reply.close && keep_alive_ && parser_ && parser_->is_done();
    res->keep_alive(keep);
    res->prepare_payload();
    keep_alive_ = false;
    tcp_layer().expires_after(Ms(options_.write_timeout));
    http::async_write(stream_, *res, [self = shared_from_this(), res, keep](const error_code& e,
                                                                            size_t) {
      if (e) return self->Fail(e);
      if (keep) return self->WaitForNextRequest();
      self->Linger();
    });
  }

  // After the last answer: send FIN, then read and drop what the client still sends (a body we
  // refused) for a short, bounded time, so that closing does not reset the connection before
  // the client has read the answer.
  void Linger() {
    error_code ignored;
    tcp_layer().socket().shutdown(tcp::socket::shutdown_send, ignored);
    tcp_layer().expires_after(std::chrono::seconds(1));
    Drain();
  }

  void Drain() {
    tcp_layer().async_read_some(asio::buffer(drain_),
                                [self = shared_from_this()](const error_code& e, size_t n) {
                                  self->drained_ += n;
                                  if (e || self->drained_ > (1 << 20)) return self->Close();
                                  self->Drain();
                                });
  }

  HttpsServer::Impl* server_;
  const HttpsServer::Options& options_;
  beast::ssl_stream<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool keep_alive_ = false;
  absl::Time started_ = absl::Now();  // of the current request (its header read)
  std::string api_ = "unmatched";     // its route's metrics label
  std::array<char, 4096> drain_;
  size_t drained_ = 0;
};

}  // namespace

void HttpsServer::Impl::Accept() {
  acceptor_->async_accept(asio::make_strand(*ioc_), [this](const error_code& ec,
                                                           tcp::socket socket) {
    OnAccept(ec, std::move(socket));
  });
}

void HttpsServer::Impl::OnAccept(const error_code& ec, tcp::socket socket) {
  if (ec == asio::error::operation_aborted) return;
  if (ec) {
    // EMFILE, ENFILE, ENOBUFS...: pause, then accept again (never give up).
    Bump(counters_.accept_errors);
    if (!accept_failing_) {
      LogError(kLog, absl::StrCat("accept failed, retrying every ",
                                  absl::FormatDuration(options_.accept_backoff), ": ",
                                  ec.message()));
      accept_failing_ = true;
    }
    backoff_->expires_after(Ms(options_.accept_backoff));
    backoff_->async_wait([this](const error_code& e) {
      if (!e) Accept();
    });
    return;
  }
  if (accept_failing_) {
    LogInfo(kLog, "accepting connections again");
    accept_failing_ = false;
  }
  if (counters_.open_connections.load(std::memory_order_relaxed) >= options_.max_connections) {
    Bump(counters_.refused_connections);
    error_code ignored;
    socket.close(ignored);
  } else {
    counters_.open_connections.fetch_add(1, std::memory_order_relaxed);
    Bump(counters_.accepted_connections);
    std::make_shared<Connection>(this, std::move(socket))->Start();
  }
  Accept();
}

HttpsServer::HttpsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

absl::StatusOr<std::unique_ptr<HttpsServer>> HttpsServer::Create(const NorthboundTls& tls,
                                                                 Options options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  absl::Status init = impl->Init(tls);
  if (!init.ok()) return init;
  return std::unique_ptr<HttpsServer>(new HttpsServer(std::move(impl)));
}

HttpsServer::~HttpsServer() { Stop(); }

void HttpsServer::Route(const std::string& method, const std::string& pattern,
                        RestHandler handler) {
  impl_->router().Route(method, pattern, std::move(handler));
}

RestRouter& HttpsServer::router() { return impl_->router(); }

absl::Status HttpsServer::Bind() { return impl_->Bind(); }
absl::Status HttpsServer::Start() { return impl_->Start(); }
int HttpsServer::port() const { return impl_->port(); }
HttpsServer::Stats HttpsServer::stats() const { return impl_->stats(); }

void HttpsServer::Stop() {
  if (impl_) impl_->Stop();
}

}  // namespace capif

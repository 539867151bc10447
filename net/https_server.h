// HttpsServer: a TS 29.222-style REST endpoint over HTTPS (cpp-httplib from Debian on OpenSSL 3),
// used by the CCF's northbound and by AEFs (sdk/aef).
// cpp-httplib hands each handler the connection's SSL*, which the AEFPSK derivation
// needs (TS 33.122 A.1 binds the key to the CAPIF-1e TLS session).
//
// TLS: 1.2 and 1.3; TLS 1.2 session tickets off (so every session has an id for AEFPSK);
// a client certificate is requested and, when sent, must chain to this CCF's own trust domain
// (invokers, AEFs, APFs, AMFs get their certificates from this CCF). Onboarding works without
// one. The caller's SPIFFE identity is parsed once per connection and given to handlers as
// RestRequest::caller; handlers decide what the role may do.
//
// Errors from handlers become ProblemDetails (rest_types.h). Unknown paths: 404; bodies larger
// than Options::max_body_bytes: 413; a handler that throws: 500. Every one is a ProblemDetails
// body with Content-Type application/problem+json. Internal errors are logged.
//
//   ASSIGN_OR_RETURN(auto server, HttpsServer::Create(tls, {"127.0.0.1", 0}));
//   server->Route("POST", "/api-invoker-management/v1/onboardedInvokers", handler);
//   RETURN_IF_ERROR(server->Start());
//
// Route() before Start(); after Start() the server is thread-safe (a pool of worker threads).
#ifndef CAPIF_NET_HTTPS_SERVER_H_
#define CAPIF_NET_HTTPS_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "net/rest_types.h"
#include "common/secret_bytes.h"
#include "common/x509_cert.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace httplib {
class SSLServer;
}

namespace capif {

using RestHandler = std::function<absl::StatusOr<RestResponse>(const RestRequest&)>;

struct NorthboundTls {
  std::string certificate_chain_pem;  // leaf first
  SecretBytes private_key_pem;
  TrustBundle client_roots;  // this CCF's own trust domain
};

class HttpsServer {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    int port = 0;  // 0 picks a free port
    size_t max_body_bytes = 64 * 1024;
    // Called last when the TLS context is set up (e.g. sdk/aef adds TLS-PSK and its own client
    // certificate check); false fails Create().
    std::function<bool(SSL_CTX&)> configure_tls;
  };

  // InvalidArgument if the certificate or key cannot be loaded.
  static absl::StatusOr<std::unique_ptr<HttpsServer>> Create(const NorthboundTls& tls,
                                                                   Options options);
  ~HttpsServer();

  // `pattern` is a regular expression over the path; captures become path_params.
  void Route(const std::string& method, const std::string& pattern, RestHandler handler);

  // Binds the listening socket (so port() is known) without serving yet. Unavailable if the
  // address cannot be bound.
  absl::Status Bind();
  // Binds if needed, then serves in a background thread; returns once serving.
  absl::Status Start();
  int port() const { return port_; }
  // Idempotent.
  void Stop();

 private:
  HttpsServer() = default;
  void Dispatch(const RestHandler& handler, const void* req, void* res);

  std::unique_ptr<httplib::SSLServer> server_;
  Options options_;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace capif

#endif  // CAPIF_NET_HTTPS_SERVER_H_

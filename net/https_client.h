// HttpsClient: the invoker's HTTPS client for CAPIF-1e (libcurl with OpenSSL, from Debian).
//
// Each request runs on a fresh TLS connection, verified against the CCF's domain CA only, and
// presents the invoker's certificate when one is configured. With capture_tls_keys the response
// also carries the connection's CAPIF-1e key material (common/aef_psk.h), read from the live
// SSL* during the transfer: the invoker derives its AEFPSK from the same TLS session as the CCF.
//
//   ASSIGN_OR_RETURN(auto client, HttpsClient::Create({ca_pem}));
//   ASSIGN_OR_RETURN(HttpsResponse r, client->Request("PUT", url, body, "application/json"));
//
// Errors: Unavailable when the connection or handshake fails (message from libcurl),
// DeadlineExceeded on timeout. HTTP error statuses are not errors: see HttpsResponse::status.
// Thread-compatible (use one client per thread, or guard it).
#ifndef CAPIF_NET_HTTPS_CLIENT_H_
#define CAPIF_NET_HTTPS_CLIENT_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/aef_psk.h"
#include "common/secret_bytes.h"

namespace capif {

struct HttpsResponse {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  std::optional<CapifTlsKeyMaterial> tls;      // with capture_tls_keys
};

class HttpsClient {
 public:
  struct Options {
    std::string ca_pem;               // roots that may sign the CCF's certificate
    std::string client_cert_pem;      // optional: mutual TLS
    SecretBytes client_key_pem;       // with client_cert_pem
    absl::Duration timeout = absl::Seconds(10);
    int max_tls_version = 0;          // 0: highest; TLS1_2_VERSION to force TLS 1.2
    // When set, the server is identified by this URI SAN (a SPIFFE id, e.g. an AEF's) instead of
    // the host name, checked during the handshake: a certificate of the CA naming anyone else
    // fails it.
    std::string expected_peer_uri;
    // Keep the connection between requests (HTTP/1.1 keep-alive, one TLS session reused). Off
    // by default: each request is then a fresh connection, which the invoker SDK needs (its
    // AEFPSK comes from the request's own TLS session). For load tools.
    bool keep_alive = false;
  };

  static absl::StatusOr<std::unique_ptr<HttpsClient>> Create(Options options);

  absl::StatusOr<HttpsResponse> Request(const std::string& method, const std::string& url,
                                        const std::string& body = "",
                                        const std::string& content_type = "",
                                        const std::vector<std::string>& extra_headers = {},
                                        bool capture_tls_keys = false);

  ~HttpsClient();

 private:
  explicit HttpsClient(Options options) : options_(std::move(options)) {}
  Options options_;
  void* kept_ = nullptr;  // the CURL handle kept with keep_alive
};

}  // namespace capif

#endif  // CAPIF_NET_HTTPS_CLIENT_H_

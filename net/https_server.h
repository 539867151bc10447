// HttpsServer: a TS 29.222-style REST endpoint over HTTPS, used by the CCF's northbound and by
// AEFs (sdk/aef). Event-driven (Boost.Beast/Asio over OpenSSL 3): a few I/O threads serve every
// connection; handlers, which may block (SQLite, peer calls), run on a bounded worker pool.
// Each handler gets the connection's SSL*, which the AEFPSK derivation needs (TS 33.122 A.1
// binds the key to the CAPIF-1e TLS session).
//
// TLS: 1.2 with AEAD suites only (ECDHE with AES-GCM or ChaCha20-Poly1305; no CBC, no SHA-1
// MAC) and 1.3. Options::configure_tls may replace the suites (sdk/aef adds the TLS-PSK ones,
// also AEAD). TLS 1.2 session tickets off (so every session has an id for AEFPSK); a client
// certificate is requested and, when sent, must chain to this CCF's own trust domain (invokers,
// AEFs, APFs, AMFs get their certificates from this CCF). Onboarding works without one. The
// caller's SPIFFE identity is parsed once per connection and given to handlers as
// RestRequest::caller; handlers decide what the role may do.
//
// Every limit is bounded (Options, defaults below):
//   - connections: beyond max_connections a new connection is accepted and closed at once
//     (Stats::refused_connections);
//   - the TLS handshake, the whole request header (not per byte: slowloris) and the request
//     body each have a deadline; a keep-alive connection idle longer than idle_timeout is
//     closed; a response that cannot be written within write_timeout ends the connection
//     (Stats::timeouts);
//   - header bytes (431), header count (431), target length (414), body size counted on the
//     decoded bytes, chunked included (413); any Content-Encoding other than identity: 415;
//     any Transfer-Encoding other than chunked: 501;
//   - one request at a time per connection (no pipelining concurrency); handler work in flight
//     in total: worker_threads running plus max_queued_requests waiting; beyond that the answer
//     is 503 with Retry-After (Stats::overloaded_requests), never an unbounded queue. A deferred
//     answer (RestResponse::Deferred, waiting for a peer) holds no worker; those are bounded by
//     the connections (one request at a time each) and end when the deferred code answers.
// Keep-alive has no request-count cap. TCP_NODELAY on every accepted socket. An accept error
// (EMFILE, ENFILE, ...) pauses accepting for accept_backoff and resumes.
//
// No input aborts the process: a target, query, header or form field that is not valid UTF-8
// after percent-decoding, and a JSON body (application/json or +json) that is not valid UTF-8,
// are 400 before any handler runs. Errors from handlers become ProblemDetails (rest_types.h).
// Unknown paths: 404. A handler that throws: 500 (logged once). Every error is a ProblemDetails
// body with Content-Type application/problem+json, serialized so that invalid UTF-8 in a detail
// cannot throw.
//
//   ASSIGN_OR_RETURN(auto server, HttpsServer::Create(tls, {"127.0.0.1", 0}));
//   server->Route("POST", "/api-invoker-management/v1/onboardedInvokers", handler);
//   RETURN_IF_ERROR(server->Start());
//
// Route() before Start(); after Start() the server is thread-safe. Handlers run concurrently
// on the worker threads. Stop() waits for running handlers to return, and for deferred answers
// still outstanding to be given (up to 5 s), so none arrives at a destroyed server.
#ifndef CAPIF_NET_HTTPS_SERVER_H_
#define CAPIF_NET_HTTPS_SERVER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/secret_bytes.h"
#include "common/x509_cert.h"
#include "net/request_metrics.h"
#include "net/rest_router.h"
#include "net/rest_types.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace capif {

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
    // Largest request body, counted on the decoded bytes (chunked included): larger is 413.
    size_t max_body_bytes = 64 * 1024;
    // Called last when the TLS context is set up (e.g. sdk/aef adds TLS-PSK and its own client
    // certificate check); false fails Create().
    std::function<bool(SSL_CTX&)> configure_tls;
    // Called when a TLS callback paused the handshake: a ClientHello callback (set by
    // configure_tls) returned SSL_CLIENT_HELLO_RETRY, for example to fetch a key without
    // blocking an I/O thread. `resume` must be called exactly once, from any thread; the
    // handshake then goes on (the callback runs again). The handshake deadline keeps running.
    // Unset: such a handshake fails.
    std::function<void(SSL* ssl, std::function<void()> resume)> on_handshake_paused;
    // When set, every answered request is recorded as (api, method, status) with its latency
    // from the end of its header to its answer: api is the first path segment of the matched
    // route's pattern ("unmatched" if none), method one of GET/POST/PUT/PATCH/DELETE or "other".
    // Must outlive the server.
    RequestMetrics* metrics = nullptr;

    // Open connections; one more is accepted and closed at once.
    size_t max_connections = 1024;
    // From accept to the end of the TLS handshake.
    absl::Duration handshake_timeout = absl::Seconds(10);
    // The whole request header (request line and fields) must arrive within this, counted from
    // the end of the handshake or from the first byte of a keep-alive request.
    absl::Duration header_timeout = absl::Seconds(10);
    // The whole body must arrive within this once the header is in.
    absl::Duration body_timeout = absl::Seconds(30);
    // A keep-alive connection with no new request for this long is closed.
    absl::Duration idle_timeout = absl::Seconds(60);
    // Writing one response.
    absl::Duration write_timeout = absl::Seconds(30);
    // Request line plus all header fields, in bytes (431 beyond).
    uint32_t max_header_bytes = 16 * 1024;
    // Header fields per request (431 beyond).
    size_t max_header_count = 64;
    // Request target (path and query) in bytes (414 beyond).
    size_t max_target_bytes = 4096;
    // Threads running the event loop (TLS, parsing, writing). 1 or 2 suits a 2-core machine.
    int io_threads = 2;
    // Threads running handlers, and requests that may wait for one; beyond both: 503.
    int worker_threads = 8;
    size_t max_queued_requests = 64;
    // Sent as Retry-After with a 503 for overload (whole seconds, at least 1).
    absl::Duration overload_retry_after = absl::Seconds(1);
    // Sent as Retry-After with any other 503 or 504 that has none (whole seconds, at least 1).
    absl::Duration unavailable_retry_after = absl::Seconds(5);
    // After an accept error (e.g. EMFILE), accepting pauses this long, then resumes.
    absl::Duration accept_backoff = absl::Milliseconds(100);
  };

  // Counters since Create(); each read is a snapshot (relaxed atomics).
  struct Stats {
    uint64_t open_connections = 0;
    uint64_t accepted_connections = 0;
    uint64_t refused_connections = 0;  // beyond max_connections
    uint64_t overloaded_requests = 0;  // answered 503 because the worker pool was full
    uint64_t timeouts = 0;             // handshake, header, body or write deadline
    uint64_t idle_closes = 0;          // keep-alive connections closed after idle_timeout
    uint64_t accept_errors = 0;
    uint64_t handler_exceptions = 0;
  };

  // InvalidArgument if the certificate or key cannot be loaded or an option is out of range.
  static absl::StatusOr<std::unique_ptr<HttpsServer>> Create(const NorthboundTls& tls,
                                                             Options options);
  ~HttpsServer();

  // `pattern` is a regular expression over the whole (percent-decoded) path; captures become
  // path_params.
  void Route(const std::string& method, const std::string& pattern, RestHandler handler);
  // The route table itself (what the TS 29.222 APIs register on); the same rule as Route().
  RestRouter& router();

  // Binds the listening socket (so port() is known) without serving yet. Unavailable if the
  // address cannot be bound.
  absl::Status Bind();
  // Binds if needed, then serves on background threads; returns once accepting.
  absl::Status Start();
  int port() const;
  Stats stats() const;
  // Stops accepting, closes every connection, waits for running handlers. Idempotent.
  void Stop();

  class Impl;

 private:
  explicit HttpsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace capif

#endif  // CAPIF_NET_HTTPS_SERVER_H_

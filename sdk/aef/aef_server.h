// AefServer: what an AEF links to serve its API to invokers over CAPIF-2e (TS 33.122 6.5.2),
// with the three security methods its CCF may select, and the AEF Security API (TS 29.222
// AEF_Security_API) through which the CCF revokes.
//
//   ASSIGN_OR_RETURN(auto aef, AefServer::Create({aef_id, ccf_api_root, ca_pem, cert_pem, key}));
//   aef->Route("GET", "/location/v1/position", [](const RestRequest& r, const AefCaller& c) {
//     return RestResponse::Json(200, {{"invoker", c.invoker_id}});
//   });
//   RETURN_IF_ERROR(aef->Start());   // https://host:aef->port()
//
// How a request is authenticated (each refusal is logged with its reason):
//   - TLS-PSK: TLS 1.2 PSK cipher suites and TLS 1.3 external PSKs (OpenSSL callbacks). The PSK
//     identity is the invoker id; on the first handshake of an invoker the key is fetched from
//     the CCF with the standard GET trustedInvokers/{id}?authenticationInfo=true (as this AEF,
//     with its certificate), kept until the AEFPSK's validity ends as the CCF says in
//     "Cache-Control: private, max-age" (at most psk_cache_ttl, 1 h), dropped on revocation.
//     No TLS callback does network I/O: a TLS 1.3 handshake offering an identity not cached yet
//     is paused at the ClientHello while SecurityInfoCache fetches it, then resumed; TLS 1.2
//     (the identity comes later, where OpenSSL cannot pause) waits for it in at most two
//     handshakes at once. Unknown identities are cached as such (30 s) and new fetches are
//     rate-limited (security_info_cache.h), so invented identities cannot amplify into CCF
//     requests. Unknown identity or wrong key: the handshake fails.
//   - TLS-PKI: the invoker's certificate (requested, not required, in the handshake) must chain
//     to the invoker root CA the CCF returns for it (same GET; cached likewise): else 401.
//   - OAuth: server-authenticated TLS and "Authorization: Bearer <JWT>": typ at+jwt, iss one of
//     the issuers the CCF lists at /.well-known/capif-token-issuers (with their JWKS; fetched
//     again on an unknown issuer or kid, at most every jwks_refresh_min_interval), aud = this
//     AEF, exp, and the scope naming this AEF and api_name: else 401 (bad token) or 403
//     (scope).
//   The first that applies wins: a PSK session, then a client certificate, then a bearer token.
//   Revoked invokers (revoke-authorization) are refused: 403, and PSK handshakes fail.
//
// The AEF Security API at /aef-security/v1/{revoke-authorization,check-authentication} accepts
// only this AEF's CCF (a certificate of this trust domain naming a CCF).
// Thread-safe after Start().
#ifndef CAPIF_SDK_AEF_AEF_SERVER_H_
#define CAPIF_SDK_AEF_AEF_SERVER_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "net/https_server.h"
#include "net/rest_types.h"
#include "common/clock.h"
#include "common/secret_bytes.h"
#include "sdk/aef/security_info_cache.h"

namespace capif {

struct AefOptions {
  std::string aef_id;
  std::string ccf_api_root;     // https://host:port of this AEF's CCF
  std::string ca_pem;           // this trust domain's CA (the CCF's and this AEF's issuer)
  std::string certificate_pem;  // this AEF's certificate (from API provider registration)
  SecretBytes private_key_pem;
  std::string api_name;  // the API served, as named in token scopes
  std::string host = "127.0.0.1";
  int port = 0;
  // At most this long for a key or root from the CCF, even if it says longer.
  absl::Duration psk_cache_ttl = absl::Hours(1);
  absl::Duration jwks_refresh_min_interval = absl::Seconds(10);
  // Fetching and caching the CCF's answers per invoker (negative cache, rate limit).
  SecurityInfoCacheOptions security_info;
};

struct AefCaller {
  std::string invoker_id;
  std::string method;  // "PSK", "PKI" or "OAUTH"
};

using AefHandler = std::function<absl::StatusOr<RestResponse>(const RestRequest&, const AefCaller&)>;

class AefServer {
 public:
  static absl::StatusOr<std::unique_ptr<AefServer>> Create(AefOptions options,
                                                           const Clock& clock = Clock::Real());
  ~AefServer();

  // A protected route: `handler` runs only for an authenticated, authorized invoker.
  void Route(const std::string& method, const std::string& pattern, AefHandler handler);
  absl::Status Start();
  int port() const { return server_->port(); }
  void Stop();

  // The key the CCF gave for `invoker_id` (fetched if not cached). NotFound if the CCF has none
  // for this AEF; PermissionDenied if revoked.
  absl::StatusOr<SecretBytes> PskFor(const std::string& invoker_id);
  // What the CCF said per invoker (for the TLS callbacks, and tests).
  SecurityInfoCache& security_info() { return *infos_; }
  // The HTTPS server's counters (connections, refusals, deadlines).
  HttpsServer::Stats server_stats() const { return server_->stats(); }
  // TLS 1.2 first contacts of this server waiting for the CCF now (the PSK callback's bound).
  std::atomic<int>& tls12_waits() { return tls12_waits_; }

 private:
  AefServer(AefOptions options, const Clock& clock) : options_(std::move(options)), clock_(clock) {}

  absl::StatusOr<SecurityInfo> FetchSecurityInfo(const std::string& invoker_id,
                                                 absl::Duration* max_age);
  // Cached or fetched; blocks (worker threads only).
  absl::StatusOr<SecurityInfo> SecurityInfoOf(const std::string& invoker_id);
  absl::StatusOr<AefCaller> Authenticate(const RestRequest& req);
  absl::StatusOr<AefCaller> AuthenticateBearer(const std::string& token);
  absl::StatusOr<RestResponse> RevokeAuthorization(const RestRequest& req);
  absl::StatusOr<RestResponse> CheckAuthentication(const RestRequest& req);
  bool Revoked(const std::string& invoker_id, absl::Time issued_at = absl::InfiniteFuture());
  // GET at the CCF as this AEF; `max_age` (if given) is lowered to the answer's max-age.
  absl::StatusOr<std::string> CcfGet(const std::string& path, absl::Duration* max_age = nullptr);

  const AefOptions options_;
  const Clock& clock_;
  std::unique_ptr<HttpsServer> server_;
  // Declared after server_: destroyed first, so waiting handshakes never outlive the server.
  std::unique_ptr<SecurityInfoCache> infos_;
  std::atomic<int> tls12_waits_{0};
  absl::Mutex mu_;
  // invoker id -> when its authorization was revoked.
  std::map<std::string, absl::Time> revoked_ ABSL_GUARDED_BY(mu_);
  // Token issuers (iss -> JWKS JSON) from the CCF, and when they were fetched.
  std::map<std::string, std::string> issuers_ ABSL_GUARDED_BY(mu_);
  absl::Time issuers_fetched_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace capif

#endif  // CAPIF_SDK_AEF_AEF_SERVER_H_

// TS 29.222 CAPIF_Security_API (clause 8.5), /capif-security/v1, and the token endpoint.
//
//   PUT    /trustedInvokers/{apiInvokerId}          invoker: create its security context
//   POST   /trustedInvokers/{apiInvokerId}/update   invoker: add entries
//   DELETE /trustedInvokers/{apiInvokerId}          invoker: remove its security context
//   GET    /trustedInvokers/{apiInvokerId}          AEF: its entries, with authenticationInfo
//                                                   (?authenticationInfo=true) and
//                                                   authorizationInfo (?authorizationInfo=true)
//   POST   /trustedInvokers/{apiInvokerId}/delete   AEF: revoke the invoker's authorization for
//                                                   its APIs (SecurityNotification)
//   POST   /securities/{securityId}/token           invoker: OAuth 2.0 client credentials
//   GET    /.well-known/jwks.json                   the public token-signing keys (JWKS)
//   POST   /introspect                              AEF: RFC 7662 token introspection (not in
//                                                   TS 29.222): active only while signature,
//                                                   exp, aud (= the calling AEF) hold and the
//                                                   invoker is still authorized for that AEF
//                                                   (so offboarding/revocation deactivates
//                                                   unexpired tokens)
//
// Security method per securityInfo entry: the AEF's methods (its profile, else its interfaces)
// intersected with prefSecurityMethods, the first in SecurityApiConfig::method_priority
// (default PSK, PKI, OAUTH). For PSK the CCF derives the AEFPSK (docs/aefpsk.md) from the TLS
// session of that very PUT/update request and the AEF interface (P0), and keeps it for
// psk_validity. The AEF gets it in authenticationInfo as lower-case hex; for PKI it gets the PEM
// root CA that certified the invoker; for OAUTH nothing (it verifies tokens with the JWKS).
// authorizationInfo lists the apiIds the entry covers, comma-separated.
//
// Tokens: over mutual TLS with the invoker's certificate; form-encoded
// grant_type=client_credentials, client_id (= securityId = apiInvokerId, = the certificate's
// id), client_secret (the onboarding secret, compared as a salted digest in constant time), scope
// "3gpp#aefId:apiName[,apiName...][;aefId:...]". Each AEF in the scope must have OAUTH selected
// in the invoker's security context and each apiName must be an API of that AEF. The token is an
// ES256 JWS, typ "at+jwt", claims iss (CCF id), sub and client_id (the invoker), aud (the AEF id;
// an array when the scope names several), scope, iat, exp, jti. Errors are AccessTokenErr:
// invalid_request / unsupported_grant_type / invalid_scope (400), invalid_client (401).
//
// CAPIF interconnection, AEF side: an AEF's GET for an invoker of another CCF, whose home asked
// this CCF to select a method for that AEF (#12), is answered with what the home CCF returns
// over CAPIF-6/6e (#13, #17, #18), cached until the AEFPSK expires (5 minutes for PKI). When no
// such request names the invoker's home, the home is found with the ownership query (#14).
//
// CAPIF interconnection: an entry naming an AEF that is not local but belongs to an API a peer
// CCF shares (its description carries the peer's ccfId) is sent to that CCF, which selects the
// method (#12, #20, #24); for PSK this CCF derives and keeps the AEFPSK bound to that AEF's
// interface, exactly as for a local AEF. The invoker sees a standard ServiceSecurity; that the
// AEF is in another domain it knows from the ccfId of the API it discovered.
//
// Other errors are ProblemDetails: 400, 401 (no client certificate), 403 (a caller acting on
// another invoker, or an AEF not in the context), 404. Thread-safe.
#ifndef CAPIF_CCF_API_SECURITY_API_H_
#define CAPIF_CCF_API_SECURITY_API_H_

#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "net/rest_router.h"
#include "federation/peer_requests.h"
#include "net/rest_types.h"
#include "ccf/store/provider_registry.h"
#include "ccf/store/remote_grants.h"
#include "ccf/store/service_apis.h"
#include "ccf/store/security_contexts.h"
#include "ccf/store/stores.h"
#include "ccf/core/token_keyring.h"
#include "common/capif_scope.h"
#include "common/certificate_authority.h"
#include "common/clock.h"

namespace capif {

inline constexpr char kSecurityRoot[] = "/capif-security/v1";
inline constexpr char kJwksPath[] = "/.well-known/jwks.json";
// {"issuers": [{"iss": <CCF id>, "jwks": <JWK Set>}, ...]}: every issuer whose access tokens
// this CCF's AEFs accept, this CCF first (not part of TS 29.222; TR 33.700-22 #24).
inline constexpr char kTokenIssuersPath[] = "/.well-known/capif-token-issuers";

struct SecurityApiConfig {
  InvokerStore* invokers;
  ProviderRegistry* providers;
  ServiceApiRepository* service_apis;
  SecurityContextRepository* contexts;
  RemoteGrantRepository* grants;  // peers' invokers' grants for this CCF's AEFs
  TokenKeyring* keyring;
  const CertificateAuthority* ca;
  const Clock* clock;
  std::string issuer;  // the CCF id
  std::string api_root;
  std::vector<std::string> method_priority = {"PSK", "PKI", "OAUTH"};
  absl::Duration token_validity = absl::Hours(1);
  absl::Duration psk_validity = absl::Hours(24);
  // Peer CCFs (CAPIF interconnection): AEFs of APIs they share are resolved and their method
  // selected there (#12, #20, #24). Null: local AEFs only.
  PeerRequests* remote = nullptr;
  // Called after deleting a security context enqueued notices for peers (peer_notices.h).
  std::function<void()> notices_enqueued;
  // Called after an AEF revoked a peer's invoker here: drop what every replica cached of it.
  std::function<void(const std::string& api_invoker_id)> remote_invoker_revoked;
  // TR 33.700-22 #24, home-issued variant, invoker side: peers (CCF ids) for whose AEFs this CCF
  // issues the access tokens itself (agreement cross_domain_tokens = issued-by-home-ccf).
  std::set<std::string> home_issued_token_peers;
  // Same variant, AEF side: (issuer = peer CCF id, its JWKS JSON) of the peers whose tokens this
  // CCF's AEFs accept, from the peers' trust bundles. Served at kTokenIssuersPath.
  std::function<std::vector<std::pair<std::string, std::string>>()> peer_token_issuers;
};

class SecurityApi {
 public:
  explicit SecurityApi(SecurityApiConfig config) : config_(std::move(config)) {}

  void RegisterRoutes(RestRouter& server);

  // Drops the cached security information of a peer's invoker (after its home CCF's notice).
  void ForgetRemoteInvoker(const std::string& api_invoker_id);
  // The same for every peer's invoker (after changes may have been missed).
  void ForgetAllRemoteInvokers();

  absl::StatusOr<RestResponse> Create(const RestRequest& req);
  absl::StatusOr<RestResponse> AddEntries(const RestRequest& req);
  absl::StatusOr<RestResponse> Remove(const RestRequest& req);
  absl::StatusOr<RestResponse> GetForAef(const RestRequest& req);
  absl::StatusOr<RestResponse> RevokeByAef(const RestRequest& req);
  // RevokeByAef of an invoker onboarded at a peer CCF (no security context here).
  absl::StatusOr<RestResponse> RevokeRemoteInvoker(const RestRequest& req, const std::string& id,
                                                   const std::string& aef_id,
                                                   const std::set<std::string>& revoked,
                                                   const std::string& cause);
  absl::StatusOr<RestResponse> Token(const RestRequest& req);
  absl::StatusOr<RestResponse> Jwks(const RestRequest& req);
  absl::StatusOr<RestResponse> TokenIssuers(const RestRequest& req);
  absl::StatusOr<RestResponse> Introspect(const RestRequest& req);

 private:
  // Resolves, selects and (for PSK) derives every entry of a ServiceSecurity body.
  absl::Status BuildEntries(const RestRequest& req, const nlohmann::json& body,
                            std::vector<SecurityEntry>* stored);
  // The revoke-authorization notices owed to this CCF's AEFs whose AEFPSK of `invoker` was
  // replaced (they may have cached it).
  std::vector<OutboundNotice> ReplacedKeyNotices(const std::string& invoker,
                                                 const std::vector<SecurityEntry>& replaced);
  absl::StatusOr<std::string> RequireInvokerSelf(const RestRequest& req);
  // Signs the access token (iss = this CCF) and answers the AccessTokenRsp.
  absl::StatusOr<RestResponse> IssueToken(const std::string& client_id, const std::string& scope,
                                          const std::vector<std::string>& audience);
  // A peer's security information for its invoker, from the cache or the peer (an error when the
  // peer refuses or cannot be reached; logged).
  absl::StatusOr<RemoteSecurityInfo> RemoteInfo(const std::string& cache_key,
                                               const std::string& home,
                                               const std::string& invoker_id,
                                               const std::string& aef_id,
                                               const std::string& method);
  absl::StatusOr<RestResponse> GetForAefFromHome(const std::string& invoker_id,
                                                 const std::string& aef_id, bool want_authn,
                                                 bool want_authz);

  SecurityApiConfig config_;
  // Security information fetched from invokers' home CCFs, until its validity ends.
  absl::Mutex cache_mu_;
  std::map<std::string, std::pair<RemoteSecurityInfo, absl::Time>> remote_cache_
      ABSL_GUARDED_BY(cache_mu_);
};

}  // namespace capif

#endif  // CAPIF_CCF_API_SECURITY_API_H_

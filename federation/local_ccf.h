// LocalCcf: what the CAPIF-6/6e service needs to know about this CCF's own state to answer a
// peer. The CCF core implements it over its stores (ccf/local_ccf_state.h); without a northbound
// the bus answers from an empty state.
//
// Implementations are thread-safe; errors are those of the underlying stores.
#ifndef CAPIF_FEDERATION_LOCAL_CCF_H_
#define CAPIF_FEDERATION_LOCAL_CCF_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "federation/peer.h"

namespace capif {

// One AEF's answer to a security-method request (solutions #12, #20, #24).
struct MethodDecision {
  std::string aef_id;
  std::string api_id;
  std::string method;  // "PSK", "PKI", "OAUTH"; empty when none is possible
  std::string reason;  // why, when `method` is empty
};

// What the invoker's home CCF gives the AEF's CCF (solutions #13, #17, #18, #24).
struct RemoteSecurityInfo {
  std::string method;               // "PSK", "PKI", "OAUTH"
  std::string aef_psk;              // PSK: the AEFPSK (raw bytes)
  int64_t aef_psk_expires_at = 0;   // PSK: Unix seconds
  std::string invoker_root_ca_pem;  // PKI
  std::string authorization_info;
  std::string notification_destination;  // the invoker's, in its security context at home
};

// A token issued for a peer's invoker (#15, #19, #24 method 3), or an RFC 6749 error.
struct ForwardedToken {
  std::string access_token;
  int64_t expires_in = 0;
  std::string scope;
  std::string error;              // empty on success: invalid_client, invalid_grant, invalid_scope
  std::string error_description;
};

// A peer's notice about one of its invokers (solution #17, KI#2 requirement 3).
struct PeerNotice {
  bool offboarding = false;  // false: revocation
  std::string api_invoker_id;
  std::string notice_id;
  int64_t occurred_at = 0;  // Unix seconds
  // Revocation only: the AEFs / APIs it covers; empty means all.
  std::vector<std::string> aef_ids;
  std::vector<std::string> api_ids;
  std::string cause;
  // From the CCF of the AEFs to the invoker's home: an AEF there revoked the authorization.
  bool from_aef_ccf = false;
};

// A peer's notice that an API it shares with this CCF appeared, changed or went (TS 29.222
// CAPIF_Events_API across CCFs): `event` is SERVICE_API_AVAILABLE, _UPDATE or _UNAVAILABLE.
struct SharedApiChangeNotice {
  std::string notice_id;
  std::string api_id;
  std::string api_name;
  std::string event;
  std::vector<std::string> aef_ids;
};

class LocalCcf {
 public:
  virtual ~LocalCcf() = default;

  // TR 33.700-22 solution #14: true only if this CCF onboarded the invoker.
  virtual absl::StatusOr<bool> OwnsInvoker(const std::string& api_invoker_id) = 0;

  // TS 23.222 8.25: the TS 29.222 ServiceAPIDescriptions (JSON) this CCF shares with `peer`:
  // published with shareableInfo.isShareable, not limited by capifProvDoms to other domains,
  // named in the agreement's shared_apis, with ccfId set to this CCF. `api_name` filters when
  // not empty.
  virtual absl::StatusOr<std::vector<std::string>> ShareableApis(const Peer& peer,
                                                                 const std::string& api_name) = 0;

  // Solutions #12, #20, #24: selects, per target (aefId, optional apiId) of an API shared with
  // `peer`, the method from the AEF's capabilities, this CCF's priority and the invoker's
  // `preferred` list, and remembers that `peer`'s invoker may use the AEF (for later lookups).
  virtual absl::StatusOr<std::vector<MethodDecision>> SelectSecurityMethods(
      const Peer& peer, const std::string& api_invoker_id,
      const std::vector<std::string>& preferred,
      const std::vector<std::pair<std::string, std::string>>& targets) = 0;

  // Solutions #13, #17, #18, #24, answering side: the security information of this CCF's invoker
  // for `aef_id`, only if the invoker's security context names that AEF as one of `peer`'s
  // (PermissionDenied otherwise: e.g. a third CCF asking for another domain's AEF) and
  // `method` is the one selected ("" = whichever was selected). NotFound when there is no such
  // invoker or entry.
  virtual absl::StatusOr<RemoteSecurityInfo> LookupSecurityInfo(const Peer& peer,
                                                                const std::string& api_invoker_id,
                                                                const std::string& aef_id,
                                                                const std::string& method) = 0;

  // Solutions #15, #19, #24 (method 3), issuing side: checks the invoker certificate against
  // `peer`'s trust bundle (identity spiffe://<peer domain>/invoker/<source>), the client
  // assertion (ES256 with that certificate's key; iss = sub = source, aud = this CCF's id as one
  // string, exp at most 5 minutes ahead, jti never seen before), and that every AEF and API of
  // `scope` was granted to this invoker via `peer` with OAUTH; then issues the access token
  // (iss = this CCF, client_id = sub = source invoker). Refusals come back in `error`.
  virtual absl::StatusOr<ForwardedToken> ForwardToken(const Peer& peer,
                                                      const std::string& source_invoker_id,
                                                      const std::string& scope,
                                                      const std::string& client_assertion,
                                                      const std::string& invoker_certificate_pem) = 0;

  // Solution #17, receiving side: forgets what this CCF holds for `peer`'s invoker (the grants
  // the notice covers, so lookups and tokens are refused, and cached security information);
  // after an offboarding, refuses new grants for that invoker from `peer`; tells each affected
  // AEF (TS 29.222 AEF Security API revoke-authorization, through the durable outbox). Only
  // state `peer` created is touched. Idempotent: a repeated notice changes nothing. OK means
  // the notice may be acknowledged.
  virtual absl::Status ApplyPeerNotice(const Peer& peer, const PeerNotice& notice) = 0;

  // Solutions #12/#20/#24, second half, receiving side: `peer` stored the security context of
  // its invoker built from this CCF's decisions for `targets` (AEF id, API id or empty); the
  // grants this CCF made for them are confirmed. Idempotent; OK means it may be acknowledged
  // (also when no grant is left to confirm: it has expired, the next request makes a new one).
  virtual absl::Status ConfirmGrants(
      const Peer& peer, const std::string& api_invoker_id,
      const std::vector<std::pair<std::string, std::string>>& targets) = 0;

  // RFC 7517 JWK Set (JSON) of this CCF's token-signing public keys.
  virtual std::string JwksJson() = 0;

  // Receiving side of NotifySharedApiChange: tells this CCF's SERVICE_API_* subscribers.
  // Idempotent (a repeated notice id tells nobody again); OK means it may be acknowledged.
  // Unimplemented where a CCF keeps no event subscriptions.
  virtual absl::Status ApplySharedApiChange(const Peer& peer, const SharedApiChangeNotice& change) {
    (void)peer;
    (void)change;
    return absl::UnimplementedError("this CCF keeps no event subscriptions");
  }
};

}  // namespace capif

#endif  // CAPIF_FEDERATION_LOCAL_CCF_H_

// The notices a home CCF owes its peers when one of its invokers is offboarded or its security
// context is deleted (TR 33.700-22 solution #17, KI#2 requirement 3): one per peer CCF that
// holds state for the invoker, i.e. every CCF whose AEFs appear in the context (entries carrying
// a remote CCF id). They go into the outbox in the same transaction as the deletion.
#ifndef CAPIF_CCF_NOTICES_PEER_NOTICES_H_
#define CAPIF_CCF_NOTICES_PEER_NOTICES_H_

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "ccf/store/security_contexts.h"
#include "ccf/store/stores.h"
#include "federation/peer_requests.h"
#include "absl/status/statusor.h"

namespace capif {

// `entries`: the invoker's security context entries (none: no notices). Offboarding: kNoticeOffboarding per peer. Otherwise kNoticeRevocation per peer naming that
// peer's AEFs, with `cause` (TS 29.222 Cause or free text).
std::vector<OutboundNotice> PeerNoticesFor(const std::string& api_invoker_id,
                                           const std::vector<SecurityEntry>& entries,
                                           bool offboarding, const std::string& cause,
                                           absl::Time now);

// A kNoticeRevocation to `home_ccf_id` from the CCF of `aef_id` (RevocationNotice.from_aef_ccf):
// the AEF revoked `api_invoker_id`'s authorization for `api_ids` there.
OutboundNotice AefCcfRevocationNotice(const std::string& home_ccf_id,
                                      const std::string& api_invoker_id, const std::string& aef_id,
                                      const std::vector<std::string>& api_ids,
                                      const std::string& cause, absl::Time now);

// ACCESS_CONTROL_POLICY_UPDATE occurrences (EventOccurrenceNotice) for each (AEF, API) of this
// CCF's own AEFs whose authorization of `api_invoker_id` differs between the security-context
// entries `before` and `after` (added, removed, or made anew).
std::vector<OutboundNotice> AclChangeNotices(const std::string& api_invoker_id,
                                             const std::vector<SecurityEntry>& before,
                                             const std::vector<SecurityEntry>& after,
                                             absl::Time now);

// One kNoticeGrantConfirmation per peer CCF whose AEFs `entries` name: the peer made its grants
// on a lease, and this tells it they were kept.
std::vector<OutboundNotice> GrantConfirmationsFor(const std::string& api_invoker_id,
                                                  const std::vector<SecurityEntry>& entries,
                                                  absl::Time now);

// The bus delivery of an outbox notice of a peer kind (offboarding, revocation, grant
// confirmation); InvalidArgument for any other kind.
absl::StatusOr<PeerNoticeDelivery> PeerDeliveryOf(const OutboundNotice& notice);

// A kNoticeAefRevoke notice: the TS 29.222 RevokeAuthorizationReq telling `aef_id` that
// `api_invoker_id` may no longer use `api_ids` (at least one), cause UNEXPECTED_REASON.
OutboundNotice AefRevokeNotice(std::string notice_id, const std::string& aef_id,
                               const std::string& api_invoker_id,
                               const std::vector<std::string>& api_ids, absl::Time now);

// The TS 29.222 revoke-authorization notices this CCF owes its own AEFs named in `entries`
// (those of no remote CCF), one per AEF, with the API ids the entries authorized.
std::vector<OutboundNotice> AefNoticesFor(const std::string& api_invoker_id,
                                          const std::vector<SecurityEntry>& entries,
                                          absl::Time now);

}  // namespace capif

#endif  // CAPIF_CCF_NOTICES_PEER_NOTICES_H_

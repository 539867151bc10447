// What this CCF decided for peers' invokers (CAPIF interconnection): the security-method grants
// it made when a peer (the invoker's home CCF) asked for one of this CCF's AEFs (TR 33.700-22
// #12, #20, #24), and the tombstones of invokers a peer announced as offboarded (#17).
//
// A grant is made on a lease: the home CCF stores its security context after this CCF answered
// and then confirms the grants it kept (ConfirmGrants). A grant whose lease ends unconfirmed is
// removed by RemoveUnconfirmed(), so a request that failed or was killed half-way at the home
// CCF leaves nothing behind here. Times are kept in microseconds, so "a token issued before this
// grant" is exact.
//
// Errors: Unavailable (database busy), Internal. Thread-safe.
#ifndef CAPIF_CCF_STORE_REMOTE_GRANTS_H_
#define CAPIF_CCF_STORE_REMOTE_GRANTS_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ccf/store/stores.h"
#include "common/sql_database.h"

namespace capif {

struct RemoteGrant {
  std::string home_ccf_id;
  std::string api_invoker_id;
  std::string aef_id;
  std::string api_id;
  std::string selected_method;
  absl::Time granted_at = absl::InfinitePast();
  // Until when the grant stands without the home CCF's confirmation; nullopt once confirmed.
  std::optional<absl::Time> lease_until;

  // Confirmed, or still within its lease.
  bool StandsAt(absl::Time now) const { return !lease_until || now <= *lease_until; }
};

struct OffboardedInvoker {
  std::string home_ccf_id;
  std::string api_invoker_id;
  std::string notice_id;
  int64_t occurred_at = 0;  // as the home CCF said (Unix seconds)
  absl::Time received_at = absl::InfinitePast();
};

class RemoteGrantRepository {
 public:
  virtual ~RemoteGrantRepository() = default;

  // Creates the grant or replaces the one for the same (home, invoker, AEF, API), and enqueues
  // `notices` with it. FailedPrecondition (nothing written) if the home CCF announced the
  // invoker offboarded, checked in the same transaction.
  virtual absl::Status Put(const RemoteGrant& grant,
                           const std::vector<OutboundNotice>& notices = {}) = 0;
  // Grants for `api_invoker_id` (of any home CCF), ordered by AEF and API.
  virtual absl::StatusOr<std::vector<RemoteGrant>> OfInvoker(const std::string& api_invoker_id) = 0;
  // Grants naming `aef_id`, ordered by invoker.
  virtual absl::StatusOr<std::vector<RemoteGrant>> OfAef(const std::string& aef_id) = 0;
  // Every grant (confirmed or on a lease), ordered by invoker, AEF and API. For operators
  // (the admin API's DropGrants); the flows ask by invoker or AEF.
  virtual absl::StatusOr<std::vector<RemoteGrant>> All() = 0;
  // The home CCF kept these grants of its invoker (AEF, API pairs; empty API: every API of that
  // AEF): their leases end. Returns how many grants it confirmed.
  virtual absl::StatusOr<int> Confirm(const std::string& home_ccf_id,
                                      const std::string& api_invoker_id,
                                      const std::vector<std::pair<std::string, std::string>>&
                                          aef_api_pairs) = 0;
  // Removes grants whose lease ended before `now` unconfirmed; returns them.
  virtual absl::StatusOr<std::vector<RemoteGrant>> RemoveUnconfirmed(absl::Time now) = 0;
  // In one transaction: removes `grants`, records `tombstone` (if any; kept if already there)
  // and enqueues `notices`.
  virtual absl::Status Remove(const std::vector<RemoteGrant>& grants,
                              const std::optional<OffboardedInvoker>& tombstone,
                              const std::vector<OutboundNotice>& notices) = 0;
  virtual absl::StatusOr<bool> IsOffboarded(const std::string& home_ccf_id,
                                            const std::string& api_invoker_id) = 0;
  // An AEF of this CCF revoked a peer's invoker: in one transaction, removes `grants` (of that
  // AEF), records that `aef_id` revoked `api_invoker_id` at `when`, and enqueues `notices`.
  // The record stands until a new grant for that invoker and AEF is Put (its home asked again),
  // so the ownership query cannot find the invoker's authorization there meanwhile.
  virtual absl::Status RemoveRevokedByAef(const std::vector<RemoteGrant>& grants,
                                          const std::string& api_invoker_id,
                                          const std::string& aef_id, absl::Time when,
                                          const std::vector<OutboundNotice>& notices) = 0;
  virtual absl::StatusOr<bool> RevokedByAef(const std::string& api_invoker_id,
                                            const std::string& aef_id) = 0;
};

class SqlRemoteGrants final : public RemoteGrantRepository {
 public:
  explicit SqlRemoteGrants(std::shared_ptr<SqlDatabase> db) : db_(std::move(db)) {}

  absl::Status Put(const RemoteGrant& grant,
                   const std::vector<OutboundNotice>& notices = {}) override;
  absl::StatusOr<std::vector<RemoteGrant>> OfInvoker(const std::string& api_invoker_id) override;
  absl::StatusOr<std::vector<RemoteGrant>> OfAef(const std::string& aef_id) override;
  absl::StatusOr<std::vector<RemoteGrant>> All() override;
  absl::StatusOr<int> Confirm(
      const std::string& home_ccf_id, const std::string& api_invoker_id,
      const std::vector<std::pair<std::string, std::string>>& aef_api_pairs) override;
  absl::StatusOr<std::vector<RemoteGrant>> RemoveUnconfirmed(absl::Time now) override;
  absl::Status Remove(const std::vector<RemoteGrant>& grants,
                      const std::optional<OffboardedInvoker>& tombstone,
                      const std::vector<OutboundNotice>& notices) override;
  absl::StatusOr<bool> IsOffboarded(const std::string& home_ccf_id,
                                    const std::string& api_invoker_id) override;
  absl::Status RemoveRevokedByAef(const std::vector<RemoteGrant>& grants,
                                  const std::string& api_invoker_id, const std::string& aef_id,
                                  absl::Time when,
                                  const std::vector<OutboundNotice>& notices) override;
  absl::StatusOr<bool> RevokedByAef(const std::string& api_invoker_id,
                                    const std::string& aef_id) override;

 private:
  std::shared_ptr<SqlDatabase> db_;
};

}  // namespace capif

#endif  // CAPIF_CCF_STORE_REMOTE_GRANTS_H_

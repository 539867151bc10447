// SQL implementations of the CCF stores (stores.h), all in one database: SQLite in one file
// (<data_dir>/ccf.db, schema versioned by CcfSchema) or PostgreSQL (PostgresCcfSchema), the
// same SQL on both (common/sql_database.h).
//
//   ASSIGN_OR_RETURN(auto db, OpenCcfDatabase(data_dir));
//   SqlInvokerStore invokers(db);
//
// Thread-safe.
#ifndef CAPIF_CCF_SQL_STORES_H_
#define CAPIF_CCF_SQL_STORES_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ccf/store/stores.h"
#include "common/postgres_database.h"
#include "common/sql_database.h"
#include "federation/peer_bundles.h"

namespace capif {

// Migration i takes the schema from version i to i + 1. Append only; never edit a shipped step.
// One list per backend: a change to the schema adds a step to both.
const std::vector<std::string>& CcfSchema();          // SQLite
const std::vector<std::string>& PostgresCcfSchema();  // PostgreSQL

// Where a CCF keeps its state (the configuration's "storage").
struct StorageConfig {
  // Absent: SQLite in <data_dir>/ccf.db, the embedded default.
  std::optional<PostgresOptions> postgres;
};

// Inside a transaction of any store on the CCF database: enqueues `notices` in the outbox
// (an id already there is left as it is), and deletes an invoker's security context.
absl::Status EnqueueNoticesIn(SqlDatabase::Tx& tx, const std::vector<OutboundNotice>& notices);
absl::Status DeleteSecurityContextIn(SqlDatabase::Tx& tx, const std::string& api_invoker_id);

// Microseconds since the Unix epoch, the precision authorization times are stored at; 0 stands
// for InfinitePast().
int64_t ToUnixMicrosOrZero(absl::Time t);
absl::Time FromUnixMicrosOrPast(int64_t us);

// Optional columns: NULL stands for an absent member.
SqlValue OptText(const std::optional<std::string>& v);
SqlValue OptInt(const std::optional<int64_t>& v);
SqlValue OptBool(const std::optional<bool>& v);
std::optional<std::string> TextOrNull(const SqlValue& v);
std::optional<int64_t> IntOrNull(const SqlValue& v);
std::optional<bool> BoolOrNull(const SqlValue& v);

// Creates `data_dir` (0700) if needed and opens <data_dir>/ccf.db with the current schema.
absl::StatusOr<std::shared_ptr<SqlDatabase>> OpenCcfDatabase(const std::string& data_dir);
// The database `storage` names, with the current schema: SQLite as OpenCcfDatabase does, or
// PostgreSQL (migrated under an advisory lock, so replicas may start together). Creates
// `data_dir` (0700) either way: the key-encryption key and the admin socket live there.
absl::StatusOr<std::shared_ptr<SqlDatabase>> OpenCcfStorage(const StorageConfig& storage,
                                                           const std::string& data_dir);

class EventLog;

class SqlInvokerStore final : public InvokerStore {
 public:
  // With `events`, onboarding, updates and offboarding are API_INVOKER_ONBOARDED / _UPDATED /
  // _OFFBOARDED events, recorded in the same transaction (ccf/store/event_subscriptions.h);
  // offboarding also ends the invoker's own event subscriptions.
  explicit SqlInvokerStore(std::shared_ptr<SqlDatabase> db, const EventLog* events = nullptr)
      : db_(std::move(db)), events_(events) {}
  absl::Status Insert(const InvokerRecord& record) override;
  absl::Status Update(const InvokerRecord& record) override;
  absl::StatusOr<std::optional<InvokerRecord>> Get(const ApiInvokerId& id) override;
  absl::Status Delete(const ApiInvokerId& id, const std::vector<OutboundNotice>& notices,
                      int64_t context_version) override;

 private:
  std::shared_ptr<SqlDatabase> db_;
  const EventLog* const events_;
};

class SqlEnrollmentTokenStore final : public EnrollmentTokenStore {
 public:
  explicit SqlEnrollmentTokenStore(std::shared_ptr<SqlDatabase> db) : db_(std::move(db)) {}
  absl::Status Add(const std::string& token_digest, EnrollmentPurpose purpose,
                   absl::Time expires) override;
  absl::Status Consume(const std::string& token_digest, EnrollmentPurpose purpose,
                       absl::Time now) override;

 private:
  std::shared_ptr<SqlDatabase> db_;
};

class SqlNoticeOutbox final : public NoticeOutbox {
 public:
  // `claimer`: who records the claims Claim() makes (a replica's id, the same after restarts).
  explicit SqlNoticeOutbox(std::shared_ptr<SqlDatabase> db, std::string claimer = "")
      : db_(std::move(db)), claimer_(std::move(claimer)) {}
  absl::Status Enqueue(const std::vector<OutboundNotice>& notices) override;
  absl::StatusOr<std::vector<OutboundNotice>> Claim(absl::Time now, int limit,
                                                    absl::Time lease_until) override;
  absl::Status Release(const std::string& notice_id) override;
  absl::Status ReleaseOwnClaims() override;
  absl::Status Delivered(const std::string& notice_id) override;
  absl::Status Failed(const std::string& notice_id, absl::Time next_attempt,
                      const std::string& error) override;
  absl::Status Postpone(const std::string& destination, absl::Time next_attempt) override;
  absl::StatusOr<std::vector<OutboundNotice>> DeadLetter(absl::Time created_before,
                                                         absl::Time now) override;
  absl::StatusOr<std::vector<OutboundNotice>> Pending() override;

 private:
  std::shared_ptr<SqlDatabase> db_;
  const std::string claimer_;
};

// The peers' trust bundles (federation/peer_bundles.h), one JSON document per peer.
class SqlPeerBundleStore final : public PeerBundleStore {
 public:
  explicit SqlPeerBundleStore(std::shared_ptr<SqlDatabase> db) : db_(std::move(db)) {}
  absl::StatusOr<std::map<std::string, PeerBundleStatus>> LoadAll() override;
  absl::Status Save(const std::string& ccf_id, const PeerBundleStatus& status) override;

 private:
  std::shared_ptr<SqlDatabase> db_;
};

}  // namespace capif

#endif  // CAPIF_CCF_SQL_STORES_H_

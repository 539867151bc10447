// Client-assertion ids already used (RFC 7523 jti; TR 33.700-22 #15 replay protection), kept in
// the CCF database until the assertion expires, so a replay is refused after a restart too (and,
// on a shared database, at every replica).
//
//   absl::Status s = repo.Remember("ccf-b/inv-1/jti-7", exp, now);  // AlreadyExists: a replay
//
// Remember() also forgets assertions that expired before `now` (a bounded sweep per call).
// Errors: AlreadyExists (already used and not expired), Unavailable (busy), Internal.
// Thread-safe.
#ifndef CAPIF_CCF_STORE_USED_ASSERTIONS_H_
#define CAPIF_CCF_STORE_USED_ASSERTIONS_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/sqlite_database.h"

namespace capif {

class UsedAssertionRepository {
 public:
  virtual ~UsedAssertionRepository() = default;
  virtual absl::Status Remember(const std::string& key, absl::Time expires, absl::Time now) = 0;
};

class SqliteUsedAssertions final : public UsedAssertionRepository {
 public:
  explicit SqliteUsedAssertions(std::shared_ptr<SqliteDatabase> db) : db_(std::move(db)) {}
  absl::Status Remember(const std::string& key, absl::Time expires, absl::Time now) override;

 private:
  std::shared_ptr<SqliteDatabase> db_;
};

}  // namespace capif

#endif  // CAPIF_CCF_STORE_USED_ASSERTIONS_H_

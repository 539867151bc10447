// Client-assertion ids already used (RFC 7523 jti; TR 33.700-22 #15 replay protection), kept in
// the CCF database until the assertion expires, so a replay is refused after a restart too (and,
// on a shared database, at every replica).
//
//   absl::Status s = repo.Remember("ccf-b/inv-1/jti-7", exp, now);  // AlreadyExists: a replay
//
// Remember() also forgets assertions that expired before `now` (a bounded sweep per commit).
// Group commit: concurrent calls are written in one transaction (one fsync) by whichever caller
// commits first; each still returns only once its id is durable, with its own answer, in the
// order the calls arrived (a second use of an id in the same batch is AlreadyExists).
// Errors: AlreadyExists (already used and not expired), Unavailable (busy), Internal.
// Thread-safe.
#ifndef CAPIF_CCF_STORE_USED_ASSERTIONS_H_
#define CAPIF_CCF_STORE_USED_ASSERTIONS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/sql_database.h"

namespace capif {

class UsedAssertionRepository {
 public:
  virtual ~UsedAssertionRepository() = default;
  virtual absl::Status Remember(const std::string& key, absl::Time expires, absl::Time now) = 0;
};

class SqlUsedAssertions final : public UsedAssertionRepository {
 public:
  explicit SqlUsedAssertions(std::shared_ptr<SqlDatabase> db) : db_(std::move(db)) {}
  absl::Status Remember(const std::string& key, absl::Time expires, absl::Time now) override;

 private:
  struct Pending {
    std::string key;
    absl::Time expires, now;
    absl::Status result;
    bool done = false;
  };
  struct Waiter {
    SqlUsedAssertions* self;
    Pending* pending;
  };
  static bool DoneOrFree(Waiter* w);
  void Commit(const std::vector<Pending*>& batch);

  std::shared_ptr<SqlDatabase> db_;
  absl::Mutex mu_;
  std::vector<Pending*> queue_ ABSL_GUARDED_BY(mu_);
  bool committing_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace capif

#endif  // CAPIF_CCF_STORE_USED_ASSERTIONS_H_

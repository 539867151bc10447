// ChangeFeed: tells every ccfd replica on one database that something it may hold in memory
// has changed, so that a revocation or a key rotation at one replica holds at all of them.
//
//   feed->Subscribe(kChangeRemoteInvoker, [&](const std::string& id) { cache.Forget(id); });
//   ... commit the change ...
//   feed->Publish(kChangeRemoteInvoker, invoker_id);
//
// Publish runs this process's handlers at once, on the caller's thread; on PostgreSQL it also
// sends a NOTIFY that the other replicas' listeners (common/postgres_listener.h) turn into the
// same handler calls, within milliseconds. A key "" means "anything of this topic": handlers
// get it after a replica's listener reconnects (notifications sent meanwhile are lost). On
// SQLite (one process per database) the feed is in-process only. Subscribe at start-up, before
// the first Publish. Thread-safe.
#ifndef CAPIF_CCF_STORE_CHANGE_FEED_H_
#define CAPIF_CCF_STORE_CHANGE_FEED_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "ccf/store/sql_stores.h"
#include "common/postgres_listener.h"

namespace capif {

// Topics. Key: the invoker whose security information from its home CCF must be fetched again
// (offboarded, revoked, or forgotten by an operator).
inline constexpr char kChangeRemoteInvoker[] = "remote-invoker";
// Key "": the token-signing keys changed (a rotation); reload them.
inline constexpr char kChangeTokenKeys[] = "token-keys";

class ChangeFeed {
 public:
  using Handler = std::function<void(const std::string& key)>;

  // On PostgreSQL, listens on its own connection (Unavailable if it cannot connect).
  static absl::StatusOr<std::unique_ptr<ChangeFeed>> Open(std::shared_ptr<SqlDatabase> db,
                                                          const StorageConfig& storage);
  ~ChangeFeed();

  void Subscribe(const std::string& topic, Handler handler);
  void Publish(const std::string& topic, const std::string& key);

  // Changes received from other replicas (for tests and metrics).
  int64_t received() const;

 private:
  ChangeFeed(std::shared_ptr<SqlDatabase> db, std::string instance)
      : db_(std::move(db)), instance_(std::move(instance)) {}
  void Dispatch(const std::string& topic, const std::string& key);
  void DispatchAll();
  void OnNotification(const std::optional<std::string>& payload);

  const std::shared_ptr<SqlDatabase> db_;
  const std::string instance_;  // tells this process's own notifications apart
  mutable absl::Mutex mu_;
  std::map<std::string, std::vector<Handler>> handlers_ ABSL_GUARDED_BY(mu_);
  bool publish_failing_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<PostgresListener> listener_;  // PostgreSQL only; last, so it stops first
};

}  // namespace capif

#endif  // CAPIF_CCF_STORE_CHANGE_FEED_H_

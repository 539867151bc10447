// PostgresListener: LISTEN on one PostgreSQL channel, on a connection of its own, and hand each
// notification's payload to a callback (on the listener's thread). What replicas on one
// database use to tell each other that something they cache has changed:
//
//   ASSIGN_OR_RETURN(auto listener, PostgresListener::Start(dsn, "capif_changes",
//       [](const std::optional<std::string>& payload) { ... }));
//   // elsewhere, in any session: SELECT pg_notify('capif_changes', 'topic\nkey')
//
// NOTIFY is delivered after the notifying transaction commits, to every listener (the
// notifier's own included), within milliseconds. A notification sent while the connection is
// down is lost, so after a reconnection the callback gets std::nullopt: "anything may have
// changed". Reconnection is retried with a backoff from 100 ms to 5 s; a lost connection is
// logged once, and once again when it is back. Start() fails if the first connection does.
// Thread-safe; the destructor stops the thread (within ~100 ms).
#ifndef CAPIF_COMMON_POSTGRES_LISTENER_H_
#define CAPIF_COMMON_POSTGRES_LISTENER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

typedef struct pg_conn PGconn;

namespace capif {

class PostgresListener {
 public:
  using Callback = std::function<void(const std::optional<std::string>& payload)>;

  // `channel`: lower-case letters, digits and '_' (an SQL identifier used as is).
  static absl::StatusOr<std::unique_ptr<PostgresListener>> Start(const std::string& dsn,
                                                                 const std::string& channel,
                                                                 Callback callback);
  ~PostgresListener();

  // Notifications received so far (for tests and metrics).
  int64_t received() const { return received_.load(); }

 private:
  PostgresListener(std::string dsn, std::string channel, Callback callback)
      : dsn_(std::move(dsn)), channel_(std::move(channel)), callback_(std::move(callback)) {}
  absl::Status Connect();
  void Loop();

  const std::string dsn_;
  const std::string channel_;
  const Callback callback_;
  PGconn* conn_ = nullptr;  // the listener thread's only, after Start()
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> received_{0};
  std::thread thread_;
};

}  // namespace capif

#endif  // CAPIF_COMMON_POSTGRES_LISTENER_H_

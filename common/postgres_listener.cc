#include "common/postgres_listener.h"

#include <poll.h>
#include <postgresql/libpq-fe.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"

namespace capif {
namespace {

bool IsPlainIdentifier(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

std::string ErrorOf(PGconn* conn) {
  std::string m = conn != nullptr ? PQerrorMessage(conn) : "out of memory";
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresListener>> PostgresListener::Start(
    const std::string& dsn, const std::string& channel, Callback callback) {
  if (!IsPlainIdentifier(channel)) {
    return absl::InvalidArgumentError("a LISTEN channel is lower-case letters, digits and '_'");
  }
  std::unique_ptr<PostgresListener> l(new PostgresListener(dsn, channel, std::move(callback)));
  absl::Status s = l->Connect();
  if (!s.ok()) return s;
  l->thread_ = std::thread([p = l.get()] { p->Loop(); });
  return l;
}

PostgresListener::~PostgresListener() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (conn_ != nullptr) PQfinish(conn_);
}

absl::Status PostgresListener::Connect() {
  if (conn_ != nullptr) PQfinish(conn_);
  conn_ = PQconnectdb(dsn_.c_str());
  if (PQstatus(conn_) != CONNECTION_OK) {
    return absl::UnavailableError(absl::StrCat("cannot connect to PostgreSQL: ", ErrorOf(conn_)));
  }
  PGresult* res = PQexec(conn_, absl::StrCat("LISTEN ", channel_).c_str());
  bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
  PQclear(res);
  if (!ok) return absl::UnavailableError(absl::StrCat("LISTEN failed: ", ErrorOf(conn_)));
  return absl::OkStatus();
}

void PostgresListener::Loop() {
  absl::Duration backoff = absl::Milliseconds(100);
  bool down = false;
  while (!stop_) {
    if (PQstatus(conn_) != CONNECTION_OK) {
      if (!down) {
        LogWarning("postgres", absl::StrCat("the ", channel_, " listener lost its connection (",
                                            ErrorOf(conn_), "); reconnecting"));
        down = true;
      }
      absl::Status s = Connect();
      if (!s.ok()) {
        // Wait, but keep stopping within ~100 ms.
        absl::Time until = absl::Now() + backoff;
        while (!stop_ && absl::Now() < until) absl::SleepFor(absl::Milliseconds(100));
        backoff = std::min(backoff * 2, absl::Seconds(5));
        continue;
      }
      LogInfo("postgres", absl::StrCat("the ", channel_, " listener is connected again"));
      down = false;
      backoff = absl::Milliseconds(100);
      callback_(std::nullopt);  // what was sent meanwhile is lost
      continue;
    }
    struct pollfd pfd = {PQsocket(conn_), POLLIN, 0};
    int rc = ::poll(&pfd, 1, 100);
    if (rc < 0 || (rc > 0 && PQconsumeInput(conn_) == 0)) {
      // A read error: the next round connects and listens again.
      if (PQstatus(conn_) == CONNECTION_OK) {
        PQfinish(conn_);
        conn_ = nullptr;  // PQstatus(nullptr) is CONNECTION_BAD
      }
      continue;
    }
    while (PGnotify* n = PQnotifies(conn_)) {
      std::string payload = n->extra != nullptr ? n->extra : "";
      PQfreemem(n);
      ++received_;
      callback_(payload);
    }
  }
}

}  // namespace capif

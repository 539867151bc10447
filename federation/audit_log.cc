#include "federation/audit_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace capif {

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::OpenFile(const std::string& path,
                                                             const Clock& clock) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("cannot open audit log '", path, "': ",
                                            std::strerror(errno)));
  }
  return std::unique_ptr<AuditLog>(new AuditLog(fd, true, clock));
}

std::unique_ptr<AuditLog> AuditLog::Stderr(const Clock& clock) {
  return std::unique_ptr<AuditLog>(new AuditLog(2, false, clock));
}

AuditLog::~AuditLog() {
  if (owned_) ::close(fd_);
}

void AuditLog::Record(const AuditEvent& e) {
  nlohmann::json line = {
      {"time", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", clock_.Now(), absl::UTCTimeZone())},
      {"peer", e.peer},
      {"operation", e.operation},
      {"request_id", e.request_id},
      {"invoker", e.invoker},
      {"aef", e.aef},
      {"decision", e.allowed ? "allow" : "deny"},
      {"reason", e.reason}};
  // Invalid UTF-8 from a peer must not stop the line from being written.
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  (void)!::write(fd_, text.data(), text.size());  // O_APPEND: one write, one whole line
}

}  // namespace capif

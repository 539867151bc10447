// AuditLog: one JSON line per cross-domain decision on the CAPIF-6/6e bus:
//   {"time":"2026-11-23T15:00:00.123Z","peer":"spiffe://b.example/ccf/ccf-b",
//    "operation":"QUERY_INVOKER_OWNERSHIP","request_id":"…","invoker":"inv-…","aef":"",
//    "decision":"allow","reason":""}
// Never a secret: callers pass identifiers and reasons only. Lines are appended whole (O_APPEND,
// one write each) and flushed, so a crash loses at most the line being written.
// Thread-safe.
#ifndef CAPIF_FEDERATION_AUDIT_LOG_H_
#define CAPIF_FEDERATION_AUDIT_LOG_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/clock.h"

namespace capif {

struct AuditEvent {
  std::string peer;  // the authenticated (or presented) identity
  std::string operation;
  std::string request_id;
  std::string invoker;
  std::string aef;
  bool allowed = false;
  std::string reason;
};

class AuditLog {
 public:
  // Appends to `path` (created 0600). Errors: those of open().
  static absl::StatusOr<std::unique_ptr<AuditLog>> OpenFile(const std::string& path,
                                                            const Clock& clock);
  // Writes to standard error.
  static std::unique_ptr<AuditLog> Stderr(const Clock& clock);
  ~AuditLog();

  void Record(const AuditEvent& event);

 private:
  AuditLog(int fd, bool owned, const Clock& clock) : fd_(fd), owned_(owned), clock_(clock) {}
  const int fd_;
  const bool owned_;
  const Clock& clock_;
};

}  // namespace capif

#endif  // CAPIF_FEDERATION_AUDIT_LOG_H_

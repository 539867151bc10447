// Minimal structured logging to stderr: one line per event,
//   2026-11-23T14:00:00.123Z WARN bus: refused peer certificate: reason
// Callers must never pass secrets. Thread-safe (lines are written whole).
#ifndef CAPIF_COMMON_LOG_H_
#define CAPIF_COMMON_LOG_H_

#include "absl/strings/string_view.h"

namespace capif {

enum class LogLevel { kInfo, kWarning, kError };

void Log(LogLevel level, absl::string_view component, absl::string_view message);

inline void LogInfo(absl::string_view component, absl::string_view message) {
  Log(LogLevel::kInfo, component, message);
}
inline void LogWarning(absl::string_view component, absl::string_view message) {
  Log(LogLevel::kWarning, component, message);
}
inline void LogError(absl::string_view component, absl::string_view message) {
  Log(LogLevel::kError, component, message);
}

}  // namespace capif

#endif  // CAPIF_COMMON_LOG_H_

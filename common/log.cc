#include "common/log.h"

#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace capif {

void Log(LogLevel level, absl::string_view component, absl::string_view message) {
  absl::string_view name = level == LogLevel::kInfo      ? "INFO"
                           : level == LogLevel::kWarning ? "WARN"
                                                         : "ERROR";
  // Log timestamps are for people reading the log, not for logic, so the wall clock is right here.
  std::string line = absl::StrCat(
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()), " ", name, " ",
      component, ": ", message, "\n");
  std::fwrite(line.data(), 1, line.size(), stderr);  // one write: lines do not interleave
}

}  // namespace capif

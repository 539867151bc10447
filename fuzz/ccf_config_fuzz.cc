// The ccfd config file (ccf/daemon/ccf_config). Not network input, but an operator's typo must
// give an error, never a crash. Paths the text names are resolved under a directory that does
// not exist; device and proc paths are skipped (reading /dev/zero would only measure the disk).
// Property: every refusal is InvalidArgument or NotFound with a message.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/match.h"
#include "ccf/daemon/ccf_config.h"
#include "fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  if (absl::StrContains(text, "/dev") || absl::StrContains(text, "/proc") ||
      absl::StrContains(text, "/sys")) {
    return 0;
  }
  auto config = capif::ParseCcfConfig(text, "/nonexistent-capif-fuzz");
  if (!config.ok()) {
    FUZZ_CHECK(!config.status().message().empty(), "an error says what is wrong");
    FUZZ_CHECK(config.status().code() != absl::StatusCode::kInternal, "no internal error");
  }
  return 0;
}

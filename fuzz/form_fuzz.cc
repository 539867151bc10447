// application/x-www-form-urlencoded and query strings (net/http_input): the token and
// introspection forms, every query. Properties: a refusal is a 400 ProblemDetails; what is
// accepted is UTF-8; the strict form (each name once) agrees with the multimap.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "common/utf8.h"
#include "fuzz/fuzz_check.h"
#include "net/http_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  std::multimap<std::string, std::string> pairs;
  absl::Status parsed = capif::ParseUrlEncoded(text, "form body", &pairs);
  auto unique = capif::ParseUniqueForm(text);
  if (!parsed.ok()) {
    FUZZ_CHECK(capif::ProblemFromStatus(parsed).first == 400, "a malformed form is 400");
    FUZZ_CHECK(!unique.ok(), "the strict form refuses what the lax one refuses");
    return 0;
  }
  for (const auto& [name, value] : pairs) {
    FUZZ_CHECK(capif::IsValidUtf8(name) && capif::IsValidUtf8(value), "accepted means UTF-8");
  }
  if (unique.ok()) {
    FUZZ_CHECK(unique->size() == pairs.size(), "each name once");
  } else {
    FUZZ_CHECK(capif::IsValidUtf8(unique.status().message()), "the detail is UTF-8");
  }
  return 0;
}

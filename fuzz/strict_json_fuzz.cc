// Strict JSON (common/strict_json): every REST body and every JWS header and claims set.
// Properties: no crash, bounded depth; what is accepted serializes without throwing (it holds
// only valid UTF-8) and parses back to the same value.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/strict_json.h"
#include "fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = capif::ParseStrictJson(text);
  if (!parsed.ok()) {
    FUZZ_CHECK(parsed.status().code() == absl::StatusCode::kInvalidArgument, "refusals are 400");
    return 0;
  }
  std::string dumped = parsed->dump();  // throws (and so aborts) on invalid UTF-8
  auto again = capif::ParseStrictJson(dumped);
  FUZZ_CHECK(again.ok(), "what was accepted, serialized, is accepted again");
  FUZZ_CHECK(*again == *parsed, "round trip keeps the value");
  return 0;
}

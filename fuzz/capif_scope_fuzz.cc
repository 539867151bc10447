// The CAPIF scope grammar (common/capif_scope), "3gpp#aef1:api1,api2;aef2:api3", from the
// token request. Properties: a refusal is InvalidArgument; an accepted scope covers exactly
// what it lists and its entries are non-empty.
#include <cstddef>
#include <cstdint>

#include "common/capif_scope.h"
#include "fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto scope = capif::ParseCapifScope(text);
  if (!scope.ok()) {
    FUZZ_CHECK(scope.status().code() == absl::StatusCode::kInvalidArgument, "refusals are 400");
    return 0;
  }
  FUZZ_CHECK(!scope->empty(), "an accepted scope names something");
  for (const auto& [aef, apis] : *scope) {
    FUZZ_CHECK(!aef.empty() && !apis.empty(), "no empty entry");
    for (const auto& api : apis) {
      FUZZ_CHECK(!api.empty(), "no empty API name");
      FUZZ_CHECK(capif::ScopeCovers(*scope, aef, api), "covers what it lists");
    }
    FUZZ_CHECK(!capif::ScopeCovers(*scope, aef, ""), "never covers an empty name");
  }
  return 0;
}

// Strict JSON parsing for anything that crosses a trust boundary (JWS headers and claims,
// REST request bodies): RFC 8259 syntax, plus
//   - duplicate member names in any object are rejected (RFC 7515 section 5.2 / RFC 8725: a
//     parser that keeps the last value would let an attacker smuggle a second claim);
//   - nesting deeper than `max_depth` is rejected.
// Errors: InvalidArgument with the reason (position for syntax errors). Thread-safe.
#ifndef CAPIF_COMMON_STRICT_JSON_H_
#define CAPIF_COMMON_STRICT_JSON_H_

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace capif {

absl::StatusOr<nlohmann::json> ParseStrictJson(absl::string_view text, int max_depth = 32);

// The member `key` of `object` if it is a string, else nullopt (absent, another type, or
// `object` not an object). For reading documents this program wrote itself.
std::optional<std::string> StringMember(const nlohmann::json& object, const char* key);

}  // namespace capif

#endif  // CAPIF_COMMON_STRICT_JSON_H_

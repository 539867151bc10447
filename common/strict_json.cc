#include "common/strict_json.h"

#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace capif {

absl::StatusOr<nlohmann::json> ParseStrictJson(absl::string_view text, int max_depth) {
  using nlohmann::json;
  std::vector<std::set<std::string>> keys;  // member names seen, one set per open object
  std::string problem;
  auto callback = [&](int depth, json::parse_event_t event, json& parsed) -> bool {
    if (!problem.empty()) return false;
    switch (event) {
      case json::parse_event_t::object_start:
        keys.emplace_back();
        [[fallthrough]];
      case json::parse_event_t::array_start:
        if (depth >= max_depth) problem = absl::StrCat("nesting deeper than ", max_depth);
        break;
      case json::parse_event_t::key: {
        const std::string& k = parsed.get_ref<const std::string&>();
        if (!keys.empty() && !keys.back().insert(k).second) {
          problem = absl::StrCat("duplicate member name \"", k.substr(0, 64), "\"");
        }
        break;
      }
      case json::parse_event_t::object_end:
        if (!keys.empty()) keys.pop_back();
        break;
      default:
        break;
    }
    return problem.empty();
  };
  json result;
  try {
    result = json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/true);
  } catch (const json::exception& e) {
    if (!problem.empty()) return absl::InvalidArgumentError(problem);
    return absl::InvalidArgumentError(absl::StrCat("malformed JSON: ", e.what()));
  }
  if (!problem.empty()) return absl::InvalidArgumentError(problem);
  return result;
}

std::optional<std::string> StringMember(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return std::nullopt;
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

}  // namespace capif

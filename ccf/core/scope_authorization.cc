#include "ccf/core/scope_authorization.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace capif {

absl::StatusOr<std::vector<std::string>> AuthorizeScope(
    const CapifScope& scope,
    const std::function<absl::StatusOr<std::set<std::string>>(const std::string&)>& granted) {
  std::vector<std::string> audience;
  for (const auto& [aef_id, api_names] : scope) {
    ASSIGN_OR_RETURN(std::set<std::string> names, granted(aef_id));
    if (names.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("no OAUTH authorization for AEF ", aef_id));
    }
    for (const std::string& name : api_names) {
      if (names.count(name) == 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "API ", name.substr(0, 64), " of AEF ", aef_id, " is not authorized with OAUTH"));
      }
    }
    audience.push_back(aef_id);
  }
  return audience;
}

}  // namespace capif

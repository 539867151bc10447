#include "common/capif_scope.h"

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "common/ids.h"

namespace capif {

absl::StatusOr<CapifScope> ParseCapifScope(absl::string_view scope) {
  if (!absl::StartsWith(scope, "3gpp#")) {
    return absl::InvalidArgumentError("scope must start with \"3gpp#\"");
  }
  CapifScope out;
  for (absl::string_view part : absl::StrSplit(scope.substr(5), ';')) {
    std::vector<absl::string_view> aef_apis = absl::StrSplit(part, absl::MaxSplits(':', 1));
    if (aef_apis.size() != 2 || !IsValidIdSegment(aef_apis[0]) || aef_apis[1].empty()) {
      return absl::InvalidArgumentError("scope entries are aefId:apiName[,apiName]");
    }
    std::vector<std::string> apis;
    for (absl::string_view api : absl::StrSplit(aef_apis[1], ',')) {
      if (api.empty()) return absl::InvalidArgumentError("empty API name in scope");
      apis.emplace_back(api);
    }
    out.emplace_back(std::string(aef_apis[0]), std::move(apis));
  }
  return out;
}

bool ScopeCovers(const CapifScope& scope, absl::string_view aef_id, absl::string_view api_name) {
  for (const auto& [aef, apis] : scope) {
    if (aef != aef_id) continue;
    for (const std::string& api : apis) {
      if (api == api_name) return true;
    }
  }
  return false;
}

}  // namespace capif

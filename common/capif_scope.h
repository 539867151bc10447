// The scope of CAPIF access tokens (TS 29.222 AccessTokenReq): "3gpp#aef1:api1,api2;aef2:api3".
#ifndef CAPIF_COMMON_CAPIF_SCOPE_H_
#define CAPIF_COMMON_CAPIF_SCOPE_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace capif {

// (aefId, apiNames) in the order given.
using CapifScope = std::vector<std::pair<std::string, std::vector<std::string>>>;

// InvalidArgument if malformed (no "3gpp#", an entry without ":", a bad AEF id, an empty name).
absl::StatusOr<CapifScope> ParseCapifScope(absl::string_view scope);

// True if `scope` names `api_name` for `aef_id`.
bool ScopeCovers(const CapifScope& scope, absl::string_view aef_id, absl::string_view api_name);

}  // namespace capif

#endif  // CAPIF_COMMON_CAPIF_SCOPE_H_

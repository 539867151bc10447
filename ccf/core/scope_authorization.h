// Scope authorization of an access-token request (TS 29.222 AccessTokenReq scope
// "3gpp#aefId:apiName[,apiName...][;aefId:...]"): every AEF the scope names must have granted the
// invoker OAUTH for every API name listed. One rule for tokens this CCF issues to its own
// invokers, to peers' invokers (#15) and as the home CCF for a peer's AEFs (#24).
//
//   ASSIGN_OR_RETURN(std::vector<std::string> audience,
//                    AuthorizeScope(scope, [&](const std::string& aef) { return names_of(aef); }));
//
// Errors: InvalidArgument (the invalid_scope description: which AEF or API is not granted).
// Thread-safe if `granted` is.
#ifndef CAPIF_CCF_CORE_SCOPE_AUTHORIZATION_H_
#define CAPIF_CCF_CORE_SCOPE_AUTHORIZATION_H_

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/capif_scope.h"

namespace capif {

// `granted(aef_id)`: the API names the invoker may use at that AEF with OAUTH (a failure is
// returned as is). Returns the token's audience: the AEF ids, in scope order.
absl::StatusOr<std::vector<std::string>> AuthorizeScope(
    const CapifScope& scope,
    const std::function<absl::StatusOr<std::set<std::string>>(const std::string& aef_id)>& granted);

}  // namespace capif

#endif  // CAPIF_CCF_CORE_SCOPE_AUTHORIZATION_H_

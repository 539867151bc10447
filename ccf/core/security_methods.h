// Security-method selection (TS 33.122 6.5.2, TR 33.700-22 #12/#20/#24): for one AEF, the first
// method of the CCF's policy priority that the AEF offers and the invoker prefers. The same rule
// for this CCF's invokers (Security API) and for peers' invokers (RequestSecurityMethod).
//
//   SelectSecurityMethod({"PKI", "OAUTH"}, {"OAUTH", "PKI"}, {"PSK", "PKI", "OAUTH"}) == "PKI"
//
// Pure; thread-safe.
#ifndef CAPIF_CCF_CORE_SECURITY_METHODS_H_
#define CAPIF_CCF_CORE_SECURITY_METHODS_H_

#include <string>
#include <vector>

namespace capif {

// Empty when no method is both offered and preferred.
std::string SelectSecurityMethod(const std::vector<std::string>& offered,
                                 const std::vector<std::string>& preferred,
                                 const std::vector<std::string>& priority);

}  // namespace capif

#endif  // CAPIF_CCF_CORE_SECURITY_METHODS_H_

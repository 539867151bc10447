#include "ccf/core/security_methods.h"

#include <algorithm>

namespace capif {

std::string SelectSecurityMethod(const std::vector<std::string>& offered,
                                 const std::vector<std::string>& preferred,
                                 const std::vector<std::string>& priority) {
  auto has = [](const std::vector<std::string>& v, const std::string& m) {
    return std::find(v.begin(), v.end(), m) != v.end();
  };
  for (const std::string& m : priority) {
    if (has(offered, m) && has(preferred, m)) return m;
  }
  return "";
}

}  // namespace capif

#include "net/rest_router.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"

namespace capif {
namespace {

// "/capif-security/v1/trustedInvokers/([^/]+)" -> "capif-security"; a segment with regex syntax
// -> "other".
std::string ApiLabelOf(const std::string& pattern) {
  absl::string_view p(pattern);
  if (!p.empty() && p[0] == '/') p.remove_prefix(1);
  p = p.substr(0, p.find('/'));
  bool plain = !p.empty() && std::all_of(p.begin(), p.end(), [](char c) {
    return absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.';
  });
  return plain ? std::string(p) : "other";
}

}  // namespace

void RestRouter::Route(const std::string& method, const std::string& pattern,
                       RestHandler handler) {
  routes_.push_back({method, std::regex(pattern), std::move(handler), ApiLabelOf(pattern)});
}

absl::StatusOr<const RestRoute*> RestRouter::Match(const std::string& method,
                                                   const std::string& path,
                                                   std::vector<std::string>* params) const {
  try {
    for (const RestRoute& r : routes_) {
      if (r.method != method) continue;
      std::smatch m;
      if (!std::regex_match(path, m, r.pattern)) continue;
      for (size_t i = 1; i < m.size(); ++i) params->push_back(m[i]);
      return &r;
    }
  } catch (const std::regex_error&) {
    return RestError(400, "the request path cannot be matched", "INVALID_MSG_FORMAT");
  }
  return nullptr;
}

}  // namespace capif

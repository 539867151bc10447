// RestRouter: the table from (method, path pattern) to handler that the HTTPS server serves,
// usable without a socket (for a TS 29.222 handler fuzz target, not written yet).
//
//   RestRouter router;
//   router.Route("GET", "/service-apis/v1/allServiceAPIs", handler);
//   const RestRoute* route = router.Match(req.method, req.path, &req.path_params);
//
// Route() before the router is shared; Match() is then thread-safe.
#ifndef CAPIF_NET_REST_ROUTER_H_
#define CAPIF_NET_REST_ROUTER_H_

#include <functional>
#include <regex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "net/rest_types.h"

namespace capif {

using RestHandler = std::function<absl::StatusOr<RestResponse>(const RestRequest&)>;

struct RestRoute {
  std::string method;
  std::regex pattern;
  RestHandler handler;
  std::string api;  // the metrics label: the pattern's first path segment, or "other"
};

class RestRouter {
 public:
  // `pattern` is a regular expression over the whole (percent-decoded) path; captures become
  // path_params. std::regex_error for a pattern that is not one (a programming error).
  void Route(const std::string& method, const std::string& pattern, RestHandler handler);

  // The first route for `method` whose pattern matches `path` whole, with its captures appended
  // to `params`; nullptr if none. InvalidArgument (400 INVALID_MSG_FORMAT) if the regular
  // expression engine gives up on the path (it can, on very long paths).
  absl::StatusOr<const RestRoute*> Match(const std::string& method, const std::string& path,
                                         std::vector<std::string>* params) const;

 private:
  std::vector<RestRoute> routes_;
};

}  // namespace capif

#endif  // CAPIF_NET_REST_ROUTER_H_

// Where an AEF is, in the TS 29.222 ServiceAPIDescriptions that publish it (this CCF's own, or
// those a peer shares): its AEF profile, the APIs it exposes, the security methods it offers and
// the address of its AEF Security API. One lookup for every flow that needs one.
//
//   std::optional<AefMatch> m = FindAefProfile(apis, AefSelector::ById("aef-1"), "");
//   m->api_ids   // every API of aef-1 among `apis` (or only `api_id`, when given)
//
// Pure functions over parsed JSON; thread-safe.
#ifndef CAPIF_CCF_CORE_AEF_DIRECTORY_H_
#define CAPIF_CCF_CORE_AEF_DIRECTORY_H_

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace capif {

// An AEF named by its aefId, or by one of its interfaces (TS 29.222 SecurityInformation names an
// AEF either way). Interfaces compare on ipv4Addr, ipv6Addr, fqdn, port and apiPrefix.
struct AefSelector {
  std::string aef_id;              // empty: by interface
  nlohmann::json interface_details;  // an InterfaceDescription, when by interface

  static AefSelector ById(std::string id) { return {std::move(id), nullptr}; }
  static AefSelector ByInterface(nlohmann::json i) { return {"", std::move(i)}; }
};

struct AefMatch {
  nlohmann::json profile;    // the AEFProfile (of the first API that has it)
  nlohmann::json interface;  // the matching InterfaceDescription (by interface), else null
  std::vector<std::string> api_ids;  // the APIs of that AEF, in the order of `apis`
  // Of the first matching API: its name and, for a peer's shared API, the peer's ccfId.
  std::string api_name;
  std::string ccf_id;
};

// The AEF among `apis`; with `api_id`, only in that API. nullopt when absent.
std::optional<AefMatch> FindAefProfile(const std::vector<nlohmann::json>& apis,
                                       const AefSelector& aef, const std::string& api_id);

// The methods an AEF profile offers: its securityMethods, else those of its interfaces (in order,
// without repeats). Items that are not strings are ignored.
std::vector<std::string> AefSecurityMethods(const nlohmann::json& aef_profile);

// "https://host:port" of the AEF's first interface with a port and an address (fqdn, IPv4 or
// IPv6), where its AEF Security API is reached. NotFound when it has none.
absl::StatusOr<std::string> AefApiRoot(const std::vector<nlohmann::json>& apis,
                                       const std::string& aef_id);

}  // namespace capif

#endif  // CAPIF_CCF_CORE_AEF_DIRECTORY_H_

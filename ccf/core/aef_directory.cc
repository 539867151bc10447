#include "ccf/core/aef_directory.h"

#include <set>

#include "absl/strings/str_cat.h"

namespace capif {

using nlohmann::json;

namespace {

bool SameInterface(const json& a, const json& b) {
  if (!a.is_object() || !b.is_object()) return false;
  for (const char* k : {"ipv4Addr", "ipv6Addr", "fqdn", "port", "apiPrefix"}) {
    if (a.contains(k) != b.contains(k)) return false;
    if (a.contains(k) && a[k] != b[k]) return false;
  }
  return true;
}

const json& ArrayOr(const json& j, const char* key) {
  static const json* const kEmpty = new json(json::array());
  if (!j.is_object()) return *kEmpty;
  auto it = j.find(key);
  return it != j.end() && it->is_array() ? *it : *kEmpty;
}

}  // namespace

std::optional<AefMatch> FindAefProfile(const std::vector<json>& apis, const AefSelector& aef,
                                       const std::string& api_id) {
  std::optional<AefMatch> match;
  for (const json& api : apis) {
    if (!api.is_object()) continue;
    std::string id = api.value("apiId", "");
    if (!api_id.empty() && id != api_id) continue;
    for (const json& p : ArrayOr(api, "aefProfiles")) {
      if (!p.is_object()) continue;
      json iface;
      if (!aef.aef_id.empty()) {
        if (p.value("aefId", "") != aef.aef_id) continue;
      } else {
        for (const json& x : ArrayOr(p, "interfaceDescriptions")) {
          if (SameInterface(x, aef.interface_details)) iface = x;
        }
        if (iface.is_null()) continue;
      }
      if (!match) {
        match = AefMatch{p, iface, {}, api.value("apiName", ""), api.value("ccfId", "")};
      }
      // The same AEF in several APIs: every one of them (an interface names one AEF).
      if (p.value("aefId", "") == match->profile.value("aefId", "")) match->api_ids.push_back(id);
    }
  }
  return match;
}

std::vector<std::string> AefSecurityMethods(const json& p) {
  std::vector<std::string> out;
  if (p.is_object() && p.contains("securityMethods")) {
    for (const json& m : ArrayOr(p, "securityMethods")) {
      if (m.is_string()) out.push_back(m.get<std::string>());
    }
    return out;
  }
  std::set<std::string> seen;
  for (const json& i : ArrayOr(p, "interfaceDescriptions")) {
    for (const json& m : ArrayOr(i, "securityMethods")) {
      if (m.is_string() && seen.insert(m.get<std::string>()).second) {
        out.push_back(m.get<std::string>());
      }
    }
  }
  return out;
}

absl::StatusOr<std::string> AefApiRoot(const std::vector<json>& apis, const std::string& aef_id) {
  for (const json& api : apis) {
    for (const json& p : ArrayOr(api, "aefProfiles")) {
      if (!p.is_object() || p.value("aefId", "") != aef_id) continue;
      for (const json& i : ArrayOr(p, "interfaceDescriptions")) {
        if (!i.is_object() || !i.contains("port") || !i["port"].is_number_integer()) continue;
        std::string host = i.value("fqdn", i.value("ipv4Addr", ""));
        if (host.empty() && i.contains("ipv6Addr")) {
          host = absl::StrCat("[", i.value("ipv6Addr", ""), "]");
        }
        if (host.empty()) continue;
        return absl::StrCat("https://", host, ":", i["port"].get<int>());
      }
    }
  }
  return absl::NotFoundError(absl::StrCat("AEF ", aef_id, " registered no interface"));
}

}  // namespace capif

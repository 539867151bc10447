#include "ccf/aef_notifier.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "sdk/invoker/capif_https_client.h"

namespace capif {

using nlohmann::json;

absl::StatusOr<std::string> AefNotifier::AefApiRoot(ResourceStore& resources,
                                                    const std::string& aef_id) {
  ASSIGN_OR_RETURN(std::vector<Resource> apis, resources.List(kResourceServiceApi, ""));
  for (const Resource& r : apis) {
    json api = json::parse(r.json, nullptr, false);
    if (!api.is_object() || !api.contains("aefProfiles") || !api["aefProfiles"].is_array()) continue;
    for (const json& p : api["aefProfiles"]) {
      if (!p.is_object() || p.value("aefId", "") != aef_id) continue;
      if (!p.contains("interfaceDescriptions") || !p["interfaceDescriptions"].is_array()) continue;
      for (const json& i : p["interfaceDescriptions"]) {
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

absl::Status AefNotifier::Deliver(const OutboundNotice& notice) {
  if (notice.kind != kNoticeAefRevoke) {
    return absl::InvalidArgumentError(absl::StrCat("not an AEF notice: ", notice.kind));
  }
  auto root = AefApiRoot(*resources_, notice.destination);
  if (absl::IsNotFound(root.status())) {
    LogWarning("notices", absl::StrCat("revoke-authorization for AEF ", notice.destination,
                                       " dropped: ", root.status().message()));
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(root.status());
  CapifHttpsClient::Options o;
  o.ca_pem = options_.ca_pem;
  o.client_cert_pem = options_.client_cert_pem;
  o.client_key_pem = options_.client_key_pem;
  o.timeout = options_.timeout;
  o.expected_peer_uri =
      absl::StrCat("spiffe://", options_.trust_domain, "/aef/", notice.destination);
  ASSIGN_OR_RETURN(auto client, CapifHttpsClient::Create(std::move(o)));
  ASSIGN_OR_RETURN(HttpsResponse r,
                   client->Request("POST", absl::StrCat(*root, kRevokeAuthorizationPath),
                                   notice.payload, "application/json"));
  if (r.status != 200 && r.status != 204) {
    return absl::UnavailableError(absl::StrCat("AEF ", notice.destination, " answered HTTP ",
                                               r.status));
  }
  return absl::OkStatus();
}

}  // namespace capif

#include "ccf/notices/aef_notifier.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "ccf/core/aef_directory.h"
#include "ccf/api/publish_service_api.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "net/https_client.h"

namespace capif {

using nlohmann::json;

absl::Status AefNotifier::Deliver(const OutboundNotice& notice) {
  if (notice.kind != kNoticeAefRevoke) {
    return absl::InvalidArgumentError(absl::StrCat("not an AEF notice: ", notice.kind));
  }
  ASSIGN_OR_RETURN(std::vector<ServiceApiRecord> apis, service_apis_->WithAef(notice.destination));
  auto root = AefApiRoot(DescriptionsOf(apis), notice.destination);
  if (absl::IsNotFound(root.status())) {
    LogWarning("notices", absl::StrCat("revoke-authorization for AEF ", notice.destination,
                                       " dropped: ", root.status().message()));
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(root.status());
  HttpsClient::Options o;
  o.ca_pem = options_.ca_pem;
  o.client_cert_pem = options_.client_cert_pem;
  o.client_key_pem = options_.client_key_pem;
  o.timeout = options_.timeout;
  o.expected_peer_uri =
      absl::StrCat("spiffe://", options_.trust_domain, "/aef/", notice.destination);
  ASSIGN_OR_RETURN(auto client, HttpsClient::Create(std::move(o)));
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

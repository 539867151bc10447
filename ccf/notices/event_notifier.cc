#include "ccf/notices/event_notifier.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "ccf/store/event_subscriptions.h"
#include "common/status_macros.h"
#include "net/https_client.h"

namespace capif {

using nlohmann::json;

absl::Status EventNotifier::Deliver(const OutboundNotice& notice) const {
  if (notice.kind != kNoticeCapifEvent) {
    return absl::InvalidArgumentError(absl::StrCat("not an event notice: ", notice.kind));
  }
  json payload = json::parse(notice.payload, nullptr, /*allow_exceptions=*/false);
  if (!payload.is_object() || !payload.contains("url") || !payload["url"].is_string() ||
      !payload.contains("notification")) {
    // Written by EventLog::RecordIn only; a damaged one would never deliver.
    return absl::DataLossError("an event notice payload does not parse");
  }
  HttpsClient::Options o;
  o.ca_pem = options_.ca_pem;
  o.client_cert_pem = options_.client_cert_pem;
  o.client_key_pem = options_.client_key_pem;
  o.timeout = options_.timeout;
  ASSIGN_OR_RETURN(auto client, HttpsClient::Create(std::move(o)));
  ASSIGN_OR_RETURN(HttpsResponse r,
                   client->Request("POST", payload["url"].get<std::string>(),
                                   payload["notification"].dump(), "application/json"));
  if (r.status != 200 && r.status != 204) {
    return absl::UnavailableError(
        absl::StrCat("the notification destination answered HTTP ", r.status));
  }
  return absl::OkStatus();
}

}  // namespace capif

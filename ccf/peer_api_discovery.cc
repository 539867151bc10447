#include "ccf/peer_api_discovery.h"

#include <grpcpp/client_context.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/strict_json.h"

namespace capif {

namespace fv1 = capif::federation::v1;

std::vector<nlohmann::json> PeerApiDiscovery::SharedApis(const std::string& api_name) {
  struct Call {
    grpc::ClientContext ctx;
    fv1::DiscoverShareableApisRequest request;
    fv1::DiscoverShareableApisResponse response;
    grpc::Status status;
  };
  std::vector<std::unique_ptr<Call>> calls;
  absl::BlockingCounter pending(static_cast<int>(peers_.size()));
  auto deadline = absl::ToChronoTime(absl::Now() + deadline_);
  for (const auto& [id, client] : peers_) {
    calls.push_back(std::make_unique<Call>());
    Call* call = calls.back().get();
    call->ctx.set_deadline(deadline);
    *call->request.mutable_header() = client->NewHeader();
    call->request.set_api_name(api_name);
    // The gRPC deadline bounds every call, so waiting for all of them is bounded too.
    client->stub()->async()->DiscoverShareableApis(&call->ctx, &call->request, &call->response,
                                                   [call, &pending](grpc::Status s) {
                                                     call->status = std::move(s);
                                                     pending.DecrementCount();
                                                   });
  }
  pending.Wait();
  std::vector<nlohmann::json> out;
  for (size_t i = 0; i < calls.size(); ++i) {
    const Call& c = *calls[i];
    const std::string& peer = peers_[i].first.value();
    if (!c.status.ok()) {
      LogWarning("discover", absl::StrCat("peer ", peer, " shared nothing: ",
                                          c.status.error_message().substr(0, 120)));
      continue;
    }
    for (const std::string& text : c.response.service_api_description_json()) {
      auto api = ParseStrictJson(text);
      if (!api.ok() || !api->is_object() || api->value("ccfId", "") != peer) {
        LogWarning("security", absl::StrCat("peer ", peer, " shared a malformed or mislabelled "
                                            "service API; ignored"));
        continue;
      }
      out.push_back(*std::move(api));
    }
  }
  return out;
}

}  // namespace capif

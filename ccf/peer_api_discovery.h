// PeerApiDiscovery: the service APIs peer CCFs share with this one (TS 23.222 8.25), fetched
// over CAPIF-6/6e with DiscoverShareableApis, for this CCF's invokers' Discover requests.
//
// All peers are asked in parallel with one deadline; a peer that fails or is slow is skipped
// (logged), never failing the invoker's discovery. Every description returned carries the
// ccfId of the CCF that shares it. Thread-safe.
#ifndef CAPIF_CCF_PEER_API_DISCOVERY_H_
#define CAPIF_CCF_PEER_API_DISCOVERY_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/time/time.h"
#include "federation/peer_client.h"

namespace capif {

class RemoteApiSource {
 public:
  virtual ~RemoteApiSource() = default;
  // ServiceAPIDescriptions shared by peers; `api_name` narrows the query when not empty.
  virtual std::vector<nlohmann::json> SharedApis(const std::string& api_name) = 0;
};

class PeerApiDiscovery final : public RemoteApiSource {
 public:
  // The clients must outlive this object.
  PeerApiDiscovery(std::vector<std::pair<CcfId, PeerClient*>> peers,
                   absl::Duration deadline = absl::Seconds(2))
      : peers_(std::move(peers)), deadline_(deadline) {}

  std::vector<nlohmann::json> SharedApis(const std::string& api_name) override;

 private:
  const std::vector<std::pair<CcfId, PeerClient*>> peers_;
  const absl::Duration deadline_;
};

}  // namespace capif

#endif  // CAPIF_CCF_PEER_API_DISCOVERY_H_

// StubLocalCcf: a LocalCcf that owns nobody, shares nothing, grants nothing and knows no
// security information, for tests that override only what they exercise. testonly.
#ifndef CAPIF_FEDERATION_TESTING_STUB_LOCAL_CCF_H_
#define CAPIF_FEDERATION_TESTING_STUB_LOCAL_CCF_H_

#include <string>
#include <utility>
#include <vector>

#include "federation/local_ccf.h"

namespace capif {

class StubLocalCcf : public LocalCcf {
 public:
  absl::StatusOr<bool> OwnsInvoker(const std::string&) override { return false; }
  absl::StatusOr<std::vector<std::string>> ShareableApis(const Peer&,
                                                         const std::string&) override {
    return std::vector<std::string>{};
  }
  absl::StatusOr<std::vector<MethodDecision>> SelectSecurityMethods(
      const Peer&, const std::string&, const std::vector<std::string>&,
      const std::vector<std::pair<std::string, std::string>>& targets) override {
    std::vector<MethodDecision> out;
    for (const auto& [aef, api] : targets) out.push_back({aef, api, "", "stub"});
    return out;
  }
  absl::StatusOr<RemoteSecurityInfo> LookupSecurityInfo(const Peer&, const std::string&,
                                                        const std::string&,
                                                        const std::string&) override {
    return absl::NotFoundError("stub: no security information");
  }
  absl::StatusOr<ForwardedToken> ForwardToken(const Peer&, const std::string&,
                                              const std::string&, const std::string&,
                                              const std::string&) override {
    return ForwardedToken{"", 0, "", "invalid_grant", "stub"};
  }
  absl::Status ApplyPeerNotice(const Peer&, const PeerNotice&) override {
    return absl::OkStatus();
  }
  absl::Status ConfirmGrants(const Peer&, const std::string&,
                             const std::vector<std::pair<std::string, std::string>>&) override {
    return absl::OkStatus();
  }
  std::string JwksJson() override { return R"({"keys":[]})"; }
};

}  // namespace capif

#endif  // CAPIF_FEDERATION_TESTING_STUB_LOCAL_CCF_H_

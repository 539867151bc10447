// LocalCcfState: the CCF core's answers to peers (federation/local_ccf.h), over its stores.
// Thread-safe.
#ifndef CAPIF_CCF_LOCAL_CCF_STATE_H_
#define CAPIF_CCF_LOCAL_CCF_STATE_H_

#include <string>
#include <vector>

#include "ccf/stores.h"
#include "ccf/token_keyring.h"
#include "federation/local_ccf.h"

namespace capif {

class LocalCcfState final : public LocalCcf {
 public:
  LocalCcfState(std::string ccf_id, InvokerStore* invokers, ResourceStore* resources,
                TokenKeyring* keyring)
      : ccf_id_(std::move(ccf_id)), invokers_(invokers), resources_(resources), keyring_(keyring) {}

  absl::StatusOr<bool> OwnsInvoker(const std::string& api_invoker_id) override;
  absl::StatusOr<std::vector<std::string>> ShareableApis(const Peer& peer,
                                                         const std::string& api_name) override;
  std::string JwksJson() override;

 private:
  const std::string ccf_id_;
  InvokerStore* const invokers_;
  ResourceStore* const resources_;
  TokenKeyring* const keyring_;
};

}  // namespace capif

#endif  // CAPIF_CCF_LOCAL_CCF_STATE_H_

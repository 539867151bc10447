// PeerRequests: every call this CCF makes to its peers over CAPIF-6/6e (the requesting side of
// the TR 33.700-22 key issue #2 flows): shared APIs (TS 23.222 8.25), security-method requests
// (#12, #20, #24), security-information lookups (#13, #17, #18), forwarded token requests (#15),
// the ownership fan-out (#14) and the delivery of notices (#17, grant confirmations).
// BusPeerRequests implements it over the bus's peer clients.
//
// Shared APIs come from a per-peer cache refreshed in the background (shared_api_cache.h): a peer
// that is down is answered for from its last answer, and named as unreachable when there is
// none, so callers can tell "not shared" from "could not ask". Every description returned
// carries the ccfId of the CCF that shares it. Security-method requests, security-information
// lookups and forwarded tokens go through a per-peer breaker (peer_breaker.h): a peer that stopped
// answering holds one caller at a time, the others get Unavailable at once. Thread-safe.
#ifndef CAPIF_FEDERATION_PEER_REQUESTS_H_
#define CAPIF_FEDERATION_PEER_REQUESTS_H_

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/time/time.h"
#include "absl/status/statusor.h"
#include "federation/local_ccf.h"
#include "federation/ownership_resolver.h"
#include "federation/peer_breaker.h"
#include "federation/peer_client.h"
#include "federation/shared_api_cache.h"

namespace capif {

// One notice to a peer, as the sender's outbox keeps it: the payload is the serialized request
// message (OffboardingNotice, RevocationNotice, SecurityMethodConfirmation or SharedApiChange)
// without header.
struct PeerNoticeDelivery {
  enum class Kind { kOffboarding, kRevocation, kGrantConfirmation, kSharedApiChange };
  Kind kind;
  std::string destination;  // the peer's CCF id
  std::string notice_id;
  std::string payload;
};

class PeerRequests {
 public:
  virtual ~PeerRequests() = default;
  // ServiceAPIDescriptions shared by peers; `api_name` narrows the query when not empty.
  virtual SharedApiSnapshot SharedApis(const std::string& api_name) = 0;

  // Solutions #12, #20, #24, requesting side: asks the CCF `ccf_id` to select the security
  // method of its AEF for this CCF's invoker. Unavailable when the peer cannot be reached;
  // NotFound when `ccf_id` is not a peer.
  virtual absl::StatusOr<MethodDecision> RequestSecurityMethod(
      const std::string& ccf_id, const std::string& api_invoker_id,
      const std::vector<std::string>& preferred, const std::string& aef_id,
      const std::string& api_id) = 0;

  // Solutions #13, #17, #18, #24, requesting side: the security information of `ccf_id`'s
  // invoker for this CCF's AEF. The peer's refusal comes back with its status code.
  virtual absl::StatusOr<RemoteSecurityInfo> LookupSecurityInfo(const std::string& ccf_id,
                                                                const std::string& api_invoker_id,
                                                                const std::string& aef_id,
                                                                const std::string& method) = 0;

  // Solutions #15, #19, #24 (method 3), forwarding side: the invoker's token request, without
  // its onboarding secret, to the CCF of the AEFs.
  virtual absl::StatusOr<ForwardedToken> ForwardToken(const std::string& ccf_id,
                                                      const std::string& source_invoker_id,
                                                      const std::string& scope,
                                                      const std::string& client_assertion,
                                                      const std::string& invoker_certificate_pem) = 0;

  // ForwardToken without holding the caller's thread: `done` is called once with the answer,
  // possibly on another thread (a gRPC one). This default runs ForwardToken and then `done`.
  virtual void ForwardTokenAsync(const std::string& ccf_id, const std::string& source_invoker_id,
                                 const std::string& scope, const std::string& client_assertion,
                                 const std::string& invoker_certificate_pem,
                                 std::function<void(absl::StatusOr<ForwardedToken>)> done) {
    done(ForwardToken(ccf_id, source_invoker_id, scope, client_assertion,
                      invoker_certificate_pem));
  }

  // Solution #14: the peer CCF that onboarded `api_invoker_id` (one claim among all peers).
  // NotFound when every peer denies it, Unavailable when some could not answer, FailedPrecondition
  // when several claim it.
  virtual absl::StatusOr<std::string> FindInvokerHome(const std::string& api_invoker_id) = 0;

  // Solution #17 (and grant confirmations), sending side: one notice to its destination CCF.
  // OK only when the peer acknowledged this notice.
  virtual absl::Status DeliverNotice(const PeerNoticeDelivery& notice) = 0;
};

struct BusPeerRequestsOptions {
  absl::Duration deadline = absl::Seconds(2);  // of every call
  double ownership_fanouts_per_second = 20;    // OwnershipResolver::Options
};

class BusPeerRequests final : public PeerRequests {
 public:
  // The clients must outlive this object.
  explicit BusPeerRequests(std::vector<std::pair<CcfId, PeerClient*>> peers,
                           BusPeerRequestsOptions options = {});

  SharedApiSnapshot SharedApis(const std::string& api_name) override;
  absl::StatusOr<MethodDecision> RequestSecurityMethod(const std::string& ccf_id,
                                                       const std::string& api_invoker_id,
                                                       const std::vector<std::string>& preferred,
                                                       const std::string& aef_id,
                                                       const std::string& api_id) override;
  absl::StatusOr<RemoteSecurityInfo> LookupSecurityInfo(const std::string& ccf_id,
                                                        const std::string& api_invoker_id,
                                                        const std::string& aef_id,
                                                        const std::string& method) override;
  absl::StatusOr<ForwardedToken> ForwardToken(const std::string& ccf_id,
                                              const std::string& source_invoker_id,
                                              const std::string& scope,
                                              const std::string& client_assertion,
                                              const std::string& invoker_certificate_pem) override;
  // Over the gRPC callback API: no thread waits for the peer.
  void ForwardTokenAsync(const std::string& ccf_id, const std::string& source_invoker_id,
                         const std::string& scope, const std::string& client_assertion,
                         const std::string& invoker_certificate_pem,
                         std::function<void(absl::StatusOr<ForwardedToken>)> done) override;
  absl::Status DeliverNotice(const PeerNoticeDelivery& notice) override;
  absl::StatusOr<std::string> FindInvokerHome(const std::string& api_invoker_id) override;

  // Per peer: whether it answers the calls above, and how many were refused at once.
  std::vector<std::pair<std::string, PeerBreaker::Stats>> breaker_stats() const;
  SharedApiCache& shared_api_cache() { return shared_apis_; }

 private:
  struct Target {
    PeerClient* client;
    PeerBreaker::Pass pass;
  };
  PeerClient* ClientOf(const std::string& ccf_id) const;
  // NotFound for a non-peer; Unavailable when the peer is not answering (peer_breaker.h).
  absl::StatusOr<Target> TargetOf(const std::string& ccf_id);
  // The blocking ForwardTokenRequest to an admitted peer.
  absl::StatusOr<ForwardedToken> ForwardTokenTo(
      Target& target, const std::string& ccf_id,
      const capif::federation::v1::ForwardedTokenRequest& req);

  const std::vector<std::pair<CcfId, PeerClient*>> peers_;
  const absl::Duration deadline_;
  std::vector<std::unique_ptr<PeerBreaker>> breakers_;  // one per peer, in peers_' order
  OwnershipResolver owners_;
  SharedApiCache shared_apis_;
};

}  // namespace capif

#endif  // CAPIF_FEDERATION_PEER_REQUESTS_H_

// LocalCcfState: the CCF core's answers to peers (federation/local_ccf.h), over its stores.
// A security-method grant to a peer's invoker is kept as a RemoteGrant (ccf/store/remote_grants.h)
// with the peer, AEF, API, method and when it was made, for the security-information lookups and
// token requests that follow. A peer's offboarding notice leaves a tombstone so no new grant is
// made for that invoker. Used client-assertion ids are kept in the database until they expire.
// Thread-safe.
#ifndef CAPIF_CCF_CORE_LOCAL_CCF_STATE_H_
#define CAPIF_CCF_CORE_LOCAL_CCF_STATE_H_

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

#include "ccf/store/remote_grants.h"
#include "ccf/store/security_contexts.h"
#include "ccf/store/service_apis.h"
#include "ccf/store/stores.h"
#include "ccf/store/used_assertions.h"
#include "ccf/core/token_keyring.h"
#include "common/clock.h"
#include "federation/local_ccf.h"
#include "federation/peer_bundles.h"
#include "common/jws.h"

namespace capif {

// Whether this CCF shares an API named `api_name` (shareableInfo: `shareable`, `shareable_with`)
// with `peer`: named in the agreement's shared_apis, shareable, and capifProvDoms empty or naming
// the peer's CCF id or trust domain.
bool SharesWith(const Peer& peer, const std::string& api_name, bool shareable,
                const std::vector<std::string>& shareable_with);

class LocalCcfState final : public LocalCcf {
 public:
  struct Config {
    std::string ccf_id;
    InvokerStore* invokers = nullptr;
    ServiceApiRepository* service_apis = nullptr;
    SecurityContextRepository* contexts = nullptr;
    RemoteGrantRepository* grants = nullptr;
    UsedAssertionRepository* used_assertions = nullptr;
    TokenKeyring* keyring = nullptr;
    const Clock* clock = nullptr;
    // The CA that certifies this CCF's invokers (for PKI lookups).
    std::string invoker_root_ca_pem;
    std::vector<std::string> method_priority = {"PSK", "PKI", "OAUTH"};
    absl::Duration token_validity = absl::Hours(1);
    // A grant to a peer's invoker stands this long unless the peer confirms it stored the
    // security context (ConfirmGrants); unconfirmed, it is ignored and removed.
    absl::Duration grant_lease = absl::Minutes(5);
    // Applies a peer's SharedApiChange (tells this CCF's event subscribers); unset: the bus
    // answers UNIMPLEMENTED.
    std::function<absl::Status(const Peer&, const SharedApiChangeNotice&)> shared_api_changed;
  };
  explicit LocalCcfState(Config config) : config_(std::move(config)) {}

  absl::StatusOr<bool> OwnsInvoker(const std::string& api_invoker_id) override;
  absl::StatusOr<std::vector<std::string>> ShareableApis(const Peer& peer,
                                                         const std::string& api_name) override;
  absl::StatusOr<std::vector<MethodDecision>> SelectSecurityMethods(
      const Peer& peer, const std::string& api_invoker_id,
      const std::vector<std::string>& preferred,
      const std::vector<std::pair<std::string, std::string>>& targets) override;
  absl::StatusOr<RemoteSecurityInfo> LookupSecurityInfo(const Peer& peer,
                                                        const std::string& api_invoker_id,
                                                        const std::string& aef_id,
                                                        const std::string& method) override;
  absl::StatusOr<ForwardedToken> ForwardToken(const Peer& peer,
                                              const std::string& source_invoker_id,
                                              const std::string& scope,
                                              const std::string& client_assertion,
                                              const std::string& invoker_certificate_pem) override;
  absl::Status ApplyPeerNotice(const Peer& peer, const PeerNotice& notice) override;
  // A notice from the CCF of AEFs that revoked this CCF's invoker there (from_aef_ccf).
  absl::Status ApplyAefCcfRevocation(const Peer& peer, const PeerNotice& notice);
  absl::Status ConfirmGrants(
      const Peer& peer, const std::string& api_invoker_id,
      const std::vector<std::pair<std::string, std::string>>& targets) override;
  std::string JwksJson() override;
  absl::Status ApplySharedApiChange(const Peer& peer, const SharedApiChangeNotice& change) override;

  // Whether the AEFs are told (revoke-authorization) when a peer's notice or a renegotiated PSK
  // ends an invoker's authorization (the notices are written with the change, into the outbox in
  // the CCF database), what to call once they are (to wake the dispatcher), and what to call to
  // drop cached security information of an invoker (the Security API's cache). Set before
  // serving.
  struct NoticeHooks {
    bool tell_aefs = false;
    std::function<void()> enqueued;
    std::function<void(const std::string& api_invoker_id)> forget_invoker;
  };
  void SetNoticeHooks(NoticeHooks hooks) { hooks_ = std::move(hooks); }
  // Peers' refreshed trust bundles (may be null: configured roots only). Set before serving.
  void SetPeerBundles(const PeerBundles* bundles) { bundles_ = bundles; }

 private:
  absl::StatusOr<bool> OffboardedAtPeer(const Peer& peer, const std::string& api_invoker_id);

  const Config config_;
  NoticeHooks hooks_;
  const PeerBundles* bundles_ = nullptr;
  // Invoker certificates already verified for a peer (#15): the assertion key as a JWK set and
  // the certificate's URI, until `until`. Keyed by peer, kid and the PEM's SHA-256.
  struct VerifiedCertificate {
    std::shared_ptr<const JwkSet> keys;
    std::string uri;
    absl::Time until;
  };
  static constexpr absl::Duration kCertCacheTtl = absl::Minutes(5);
  static constexpr size_t kCertCacheMax = 10000;
  absl::Mutex cert_mu_;
  std::map<std::string, VerifiedCertificate> cert_cache_ ABSL_GUARDED_BY(cert_mu_);
};

}  // namespace capif

#endif  // CAPIF_CCF_CORE_LOCAL_CCF_STATE_H_

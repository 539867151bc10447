// Northbound: the TS 29.222 APIs of this CCF, assembled from a CcfConfig: the CCF database and
// the key-encryption key that seals its secrets (both in data_dir), the stores, the domain CA,
// the HTTPS server and every API registered on it.
//
//   ASSIGN_OR_RETURN(auto nb, Northbound::Start(config));   // serving when this returns
//   nb->api_root();   // "https://127.0.0.1:8441"
//   nb->Stop();
//
// Errors from Start(): whatever opening the database, loading or creating <data_dir>/kek, or
// binding the port reports (the message names the data directory or address). Thread-safe after
// Start().
#ifndef CAPIF_CCF_DAEMON_NORTHBOUND_H_
#define CAPIF_CCF_DAEMON_NORTHBOUND_H_

#include <atomic>
#include <memory>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "ccf/api/access_control_policy_api.h"
#include "ccf/api/discover_service_api.h"
#include "ccf/api/events_api.h"
#include "ccf/api/invoker_management_api.h"
#include "ccf/api/logging_api.h"
#include "ccf/api/provider_management_api.h"
#include "ccf/api/publish_service_api.h"
#include "ccf/api/security_api.h"
#include "ccf/core/local_ccf_state.h"
#include "ccf/core/token_keyring.h"
#include "ccf/daemon/ccf_config.h"
#include "ccf/notices/aef_notifier.h"
#include "ccf/notices/event_notifier.h"
#include "ccf/notices/notice_dispatcher.h"
#include "ccf/store/change_feed.h"
#include "ccf/store/provider_registry.h"
#include "ccf/store/remote_grants.h"
#include "ccf/store/security_contexts.h"
#include "ccf/store/service_apis.h"
#include "ccf/store/sql_stores.h"
#include "ccf/store/used_assertions.h"
#include "common/clock.h"
#include "common/key_encryption_key.h"
#include "net/https_server.h"

namespace capif {

class Northbound {
 public:
  // `remote` (may be null) supplies the APIs peers share; it must outlive the Northbound.
  static absl::StatusOr<std::unique_ptr<Northbound>> Start(const CcfConfig& config,
                                                           const Clock& clock = Clock::Real(),
                                                           PeerRequests* remote = nullptr);
  ~Northbound();

  const std::string& api_root() const { return api_root_; }
  int port() const { return server_->port(); }
  // This CCF's state as the bus shows it to peers.
  LocalCcf* local_state() { return local_state_.get(); }
  // Notices to peers and AEFs not acknowledged yet.
  NoticeOutbox* outbox() { return outbox_.get(); }
  const NoticeDispatcher* dispatcher() const { return dispatcher_.get(); }
  // The CCF database (for stores that live beside the northbound's, e.g. peer bundles).
  std::shared_ptr<SqlDatabase> database() { return db_; }
  // What the admin API (ccf/daemon/admin_service.h) acts on in the running CCF: enrollment
  // tokens, the token-signing keys in use, and peers' invokers' grants.
  EnrollmentTokenStore* enrollment_tokens() { return enrollment_tokens_.get(); }
  TokenKeyring* keyring() { return keyring_.get(); }
  RemoteGrantRepository* remote_grants() { return grants_.get(); }
  // The HTTPS server's connection and overload counters.
  HttpsServer::Stats server_stats() const { return server_->stats(); }
  // Drops the security information of a peer's invoker cached by the Security API, here and
  // at every other replica on the same database.
  void ForgetRemoteInvoker(const std::string& api_invoker_id) {
    changes_->Publish(kChangeRemoteInvoker, api_invoker_id);
  }
  // After a rotation of the token-signing keys: every other replica reloads them.
  void TokenKeysRotated() { changes_->Publish(kChangeTokenKeys, ""); }
  // Peers' refreshed trust bundles, used for what peers present (may be null). Set before the
  // bus serves; must outlive the Northbound.
  void SetPeerBundles(const PeerBundles* bundles) {
    local_state_->SetPeerBundles(bundles);
    bundles_.store(bundles);
  }
  void Stop();

 private:
  Northbound() = default;
  void SharedApiChangeRefused(const std::string& peer, const absl::Status& s);

  std::shared_ptr<SqlDatabase> db_;
  std::shared_ptr<const CertificateAuthority> ca_;
  // CAPIF events: recorded by the stores below in their transactions, delivered by the outbox.
  std::unique_ptr<EventLog> events_;
  std::unique_ptr<SqlEventSubscriptions> subscriptions_;
  std::unique_ptr<EventsApi> events_api_;
  std::unique_ptr<SqlInvocationLogs> invocation_logs_;
  std::unique_ptr<LoggingApi> logging_api_;
  std::unique_ptr<EventNotifier> event_notifier_;
  absl::Mutex refused_mu_;
  std::set<std::string> refused_peers_ ABSL_GUARDED_BY(refused_mu_);
  std::unique_ptr<SqlInvokerStore> invokers_;
  std::unique_ptr<SqlEnrollmentTokenStore> enrollment_tokens_;
  std::unique_ptr<SqlProviderRegistry> providers_;
  std::unique_ptr<SqlServiceApis> service_apis_;
  std::unique_ptr<SqlSecurityContexts> contexts_;
  std::unique_ptr<SqlRemoteGrants> grants_;
  std::unique_ptr<SqlUsedAssertions> used_assertions_;
  std::unique_ptr<InvokerManagementApi> invoker_management_;
  std::unique_ptr<ProviderManagementApi> provider_management_;
  std::unique_ptr<PublishServiceApi> publish_;
  std::unique_ptr<DiscoverServiceApi> discover_;
  std::unique_ptr<AccessControlPolicyApi> access_control_;
  // Seals the secrets kept in the database (<data_dir>/kek).
  std::unique_ptr<const KeyEncryptionKey> kek_;
  std::unique_ptr<TokenKeyring> keyring_;
  std::unique_ptr<SecurityApi> security_;
  std::unique_ptr<LocalCcfState> local_state_;
  std::unique_ptr<SqlNoticeOutbox> outbox_;
  std::unique_ptr<AefNotifier> aef_notifier_;
  std::unique_ptr<NoticeDispatcher> dispatcher_;
  std::unique_ptr<HttpsServer> server_;
  std::string api_root_;
  std::atomic<const PeerBundles*> bundles_{nullptr};
  // Changes from the other replicas (its listener calls into security_ and keyring_): last, so
  // that it stops first.
  std::unique_ptr<ChangeFeed> changes_;
};

}  // namespace capif

#endif  // CAPIF_CCF_DAEMON_NORTHBOUND_H_

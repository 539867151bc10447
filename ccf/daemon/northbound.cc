#include "ccf/daemon/northbound.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "ccf/notices/peer_notices.h"
#include "ccf/api/legacy_documents.h"
#include "ccf/store/legacy_resources.h"
#include "common/file_io.h"
#include "common/key_encryption_key.h"
#include "common/secret_bytes.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace capif {
namespace {

// This replica's id, the same across restarts: <data_dir>/replica-id, 16 random hex digits made
// at the first start. It names the outbox claims this replica makes.
absl::StatusOr<std::string> ReplicaIdOf(const std::string& data_dir) {
  const std::string path = data_dir + "/replica-id";
  auto existing = ReadFile(path);
  if (existing.ok()) {
    std::string id(absl::StripAsciiWhitespace(*existing));
    if (!id.empty() && id.size() <= 64) return id;
  }
  std::string id = absl::BytesToHexString(SecretBytes::Random(8).Reveal(InsecureSecretAccess()));
  RETURN_IF_ERROR(WriteFileAtomic(path, id + "\n", 0600));
  return id;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Northbound>> Northbound::Start(const CcfConfig& config,
                                                              const Clock& clock,
                                                              PeerRequests* remote) {
  if (!config.northbound || !config.ca) {
    return absl::FailedPreconditionError("no northbound configured");
  }
  const NorthboundConfig& nb = *config.northbound;
  std::unique_ptr<Northbound> n(new Northbound());
  auto db = OpenCcfStorage(config.storage, config.data_dir);
  if (!db.ok()) {
    std::string where = config.storage.postgres ? "storage.postgres"
                                                : absl::StrCat("data_dir '", config.data_dir, "'");
    return absl::Status(db.status().code(), absl::StrCat(where, ": ", db.status().message()));
  }
  n->db_ = *db;
  auto kek = KeyEncryptionKey::LoadOrCreate(config.data_dir);
  if (!kek.ok()) {
    return absl::Status(kek.status().code(), absl::StrCat("data_dir '", config.data_dir,
                                                          "': ", kek.status().message()));
  }
  n->kek_ = std::make_unique<const KeyEncryptionKey>(*std::move(kek));
  n->ca_ = config.ca;
  // Changes of an API shared with peers are announced to them (NotifySharedApiChange).
  std::vector<Peer> peers = config.peers;
  n->events_ = std::make_unique<EventLog>(clock, [peers](const SharedApiFacts& api) {
    std::vector<std::string> out;
    for (const Peer& p : peers) {
      if (SharesWith(p, api.api_name, api.shareable, api.shareable_with)) {
        out.push_back(p.ccf_id.value());
      }
    }
    return out;
  });
  n->subscriptions_ = std::make_unique<SqlEventSubscriptions>(n->db_);
  n->invokers_ = std::make_unique<SqlInvokerStore>(n->db_, n->events_.get());
  n->enrollment_tokens_ = std::make_unique<SqlEnrollmentTokenStore>(n->db_);
  n->providers_ = std::make_unique<SqlProviderRegistry>(n->db_, n->events_.get());
  n->service_apis_ = std::make_unique<SqlServiceApis>(n->db_, n->events_.get());
  // Secrets at rest are sealed under the key-encryption key beside the database.
  ASSIGN_OR_RETURN(n->contexts_, SqlSecurityContexts::Create(n->db_, *n->kek_));
  n->grants_ = std::make_unique<SqlRemoteGrants>(n->db_);
  n->used_assertions_ = std::make_unique<SqlUsedAssertions>(n->db_);
  // JSON documents of schema version 8 and older exist only in SQLite files.
  if (n->db_->dialect() == SqlDatabase::Dialect::kSqlite) {
    RETURN_IF_ERROR(MigrateLegacyResources(n->db_, *n->kek_).status());
    RETURN_IF_ERROR(
        ConvertLegacyDocuments(n->db_, *n->providers_, *n->service_apis_, *n->invokers_).status());
  }

  size_t colon = nb.listen_address.rfind(':');
  HttpsServer::Options options = nb.server;
  options.host = nb.listen_address.substr(0, colon);
  options.port = std::stoi(nb.listen_address.substr(colon + 1));
  ASSIGN_OR_RETURN(n->server_,
                   HttpsServer::Create({nb.certificate_chain_pem, nb.private_key_pem,
                                             config.bus_identity.own_trust_bundle},
                                            options));
  // With port 0 the API root (used in Location headers) depends on the bound port: bind first.
  RETURN_IF_ERROR(n->server_->Bind());
  n->api_root_ = nb.api_root.empty() ? absl::StrCat("https://", options.host, ":", n->port())
                                     : nb.api_root;
  // Offboarding/revocation notices (solution #17): written with the change they announce,
  // delivered by the dispatcher until acknowledged.
  ASSIGN_OR_RETURN(std::string replica_id, ReplicaIdOf(config.data_dir));
  n->outbox_ = std::make_unique<SqlNoticeOutbox>(n->db_, replica_id);
  std::string ca_pem = *n->ca_->certificate().ToPem();
  n->aef_notifier_ = std::make_unique<AefNotifier>(
      n->service_apis_.get(),
      AefNotifier::Options{config.bus_identity.trust_domain.value(), ca_pem,
                           nb.certificate_chain_pem, nb.private_key_pem});
  std::string event_roots = ca_pem;
  if (!nb.event_destination_roots_pem.empty()) {
    absl::StrAppend(&event_roots, "\n", nb.event_destination_roots_pem);
  }
  n->event_notifier_ = std::make_unique<EventNotifier>(
      EventNotifier::Options{event_roots, nb.certificate_chain_pem, nb.private_key_pem});
  Northbound* self = n.get();
  n->dispatcher_ = std::make_unique<NoticeDispatcher>(
      n->outbox_.get(), clock,
      NoticeRetryPolicy{config.notice_retry_initial, config.notice_retry_max,
                        config.notice_dead_letter_after, config.notice_lease},
      [self, remote](const OutboundNotice& notice) -> absl::Status {
        if (notice.kind == kNoticeAefRevoke) return self->aef_notifier_->Deliver(notice);
        if (notice.kind == kNoticeCapifEvent) return self->event_notifier_->Deliver(notice);
        if (remote == nullptr) return absl::UnavailableError("no peer CCFs configured");
        ASSIGN_OR_RETURN(PeerNoticeDelivery delivery, PeerDeliveryOf(notice));
        absl::Status s = remote->DeliverNotice(delivery);
        if (notice.kind == kNoticeSharedApiChange &&
            (absl::IsPermissionDenied(s) || absl::IsUnimplemented(s))) {
          // The peer's agreement does not take these (or it keeps no subscriptions): given up,
          // as retrying cannot change the answer. Logged once per peer.
          self->SharedApiChangeRefused(notice.destination, s);
          return absl::OkStatus();
        }
        return s;
      });
  auto wake = [self] { self->dispatcher_->Wake(); };
  InvokerManagementConfig invoker_config{n->invokers_.get(), n->enrollment_tokens_.get(),
                                         n->ca_.get(), &clock, n->api_root_,
                                         config.security.certificate_validity};
  invoker_config.contexts = n->contexts_.get();
  invoker_config.notices_enqueued = wake;
  n->invoker_management_ = std::make_unique<InvokerManagementApi>(std::move(invoker_config));
  n->invoker_management_->RegisterRoutes(n->server_->router());
  n->provider_management_ = std::make_unique<ProviderManagementApi>(ProviderManagementConfig{
      n->providers_.get(), n->enrollment_tokens_.get(), n->ca_.get(), &clock, n->api_root_,
      config.security.certificate_validity});
  n->provider_management_->RegisterRoutes(n->server_->router());
  n->publish_ = std::make_unique<PublishServiceApi>(
      PublishServiceConfig{n->providers_.get(), n->service_apis_.get(), n->ca_.get(),
                           n->api_root_});
  n->publish_->RegisterRoutes(n->server_->router());
  n->discover_ = std::make_unique<DiscoverServiceApi>(
      DiscoverServiceConfig{n->service_apis_.get(), n->invokers_.get(), n->ca_.get(), remote});
  n->discover_->RegisterRoutes(n->server_->router());
  n->access_control_ = std::make_unique<AccessControlPolicyApi>(
      AccessControlPolicyConfig{n->providers_.get(), n->service_apis_.get(), n->contexts_.get(),
                                n->grants_.get(), n->ca_.get(), &clock});
  n->access_control_->RegisterRoutes(n->server_->router());
  n->events_api_ = std::make_unique<EventsApi>(
      EventsApiConfig{n->subscriptions_.get(), n->invokers_.get(), n->providers_.get(),
                      n->ca_.get(), &clock, n->api_root_});
  n->events_api_->RegisterRoutes(n->server_->router());
  n->invocation_logs_ = std::make_unique<SqlInvocationLogs>(n->db_, n->events_.get());
  n->logging_api_ = std::make_unique<LoggingApi>(
      LoggingApiConfig{n->invocation_logs_.get(), n->providers_.get(), n->service_apis_.get(),
                       n->ca_.get(), &clock, n->api_root_});
  n->logging_api_->RegisterRoutes(n->server_->router());
  ASSIGN_OR_RETURN(n->keyring_, TokenKeyring::Open(n->db_, *n->kek_, clock));
  SecurityApiConfig security{n->invokers_.get(),
                             n->providers_.get(),
                             n->service_apis_.get(),
                             n->contexts_.get(),
                             n->grants_.get(),
                             n->keyring_.get(),
                             n->ca_.get(),
                             &clock,
                             config.bus_identity.ccf_id.value(),
                             n->api_root_,
                             config.security.method_priority,
                             config.security.token_validity,
                             config.security.aef_psk_validity,
                             remote,
                             wake};
  security.remote_invoker_revoked = [self](const std::string& invoker) {
    self->ForgetRemoteInvoker(invoker);
  };
  // TR 33.700-22 #24, home-issued variant, per agreement: for such a peer, this CCF issues the
  // tokens of its invokers for the peer's AEFs, and its own AEFs accept the peer's tokens, with
  // the keys of the peer's current trust bundle.
  std::vector<std::string> token_peers;
  for (const Peer& p : config.peers) {
    if (!p.agreement.home_issues_tokens) continue;
    security.home_issued_token_peers.insert(p.ccf_id.value());
    token_peers.push_back(p.ccf_id.value());
  }
  security.peer_token_issuers = [self, token_peers] {
    std::vector<std::pair<std::string, std::string>> out;
    const PeerBundles* bundles = self->bundles_.load();
    if (bundles == nullptr) return out;
    for (const std::string& id : token_peers) {
      PeerBundleStatus s = bundles->Status(id);
      if (s.last_good) out.emplace_back(id, s.last_good->jwks_json);
    }
    return out;
  };
  n->security_ = std::make_unique<SecurityApi>(std::move(security));
  n->security_->RegisterRoutes(n->server_->router());
  LocalCcfState::Config local;
  local.ccf_id = config.bus_identity.ccf_id.value();
  local.invokers = n->invokers_.get();
  local.service_apis = n->service_apis_.get();
  local.contexts = n->contexts_.get();
  local.grants = n->grants_.get();
  local.used_assertions = n->used_assertions_.get();
  local.keyring = n->keyring_.get();
  local.clock = &clock;
  local.invoker_root_ca_pem = *n->ca_->certificate().ToPem();
  local.method_priority = config.security.method_priority;
  local.token_validity = config.security.token_validity;
  local.shared_api_changed = [self, &clock](const Peer& peer, const SharedApiChangeNotice& change) {
    return RecordPeerApiChange(*self->db_, *self->events_, peer.ccf_id.value(), change.notice_id,
                               ServiceApiEvent(change.event, change.api_id, change.aef_ids),
                               clock.Now());
  };
  n->local_state_ = std::make_unique<LocalCcfState>(std::move(local));
  // What one replica changes that the others hold in memory (ccf/store/change_feed.h).
  ASSIGN_OR_RETURN(n->changes_, ChangeFeed::Open(n->db_, config.storage));
  n->changes_->Subscribe(kChangeRemoteInvoker, [self](const std::string& invoker) {
    if (invoker.empty()) {
      self->security_->ForgetAllRemoteInvokers();
    } else {
      self->security_->ForgetRemoteInvoker(invoker);
    }
  });
  n->changes_->Subscribe(kChangeTokenKeys, [self](const std::string&) {
    absl::Status s = self->keyring_->Reload();
    if (!s.ok()) LogError("keyring", absl::StrCat("reloading the token-signing keys: ", s.message()));
  });
  n->local_state_->SetNoticeHooks(
      {/*tell_aefs=*/true, wake,
       [self](const std::string& invoker) { self->ForgetRemoteInvoker(invoker); }});
  RETURN_IF_ERROR(n->server_->Start());
  n->dispatcher_->Start(std::min(config.notice_retry_initial, absl::Seconds(1)));
  LogInfo("ccfd", absl::StrCat("TS 29.222 northbound at ", n->api_root_, ", data in ",
                               config.storage.postgres ? "PostgreSQL" : config.data_dir));
  return n;
}

Northbound::~Northbound() { Stop(); }

void Northbound::SharedApiChangeRefused(const std::string& peer, const absl::Status& s) {
  absl::MutexLock l(&refused_mu_);
  if (!refused_peers_.insert(peer).second) return;
  LogWarning("notices",
             absl::StrCat("peer ", peer, " does not take shared-API change notices (", s.message(),
                          "): its subscribers will not hear of this "
                          "CCF's API changes; notices to it are given up"));
}

void Northbound::Stop() {
  if (server_) server_->Stop();
  if (dispatcher_) dispatcher_->Stop();  // what is not delivered stays in the outbox
}

}  // namespace capif

#include "ccf/core/local_ccf_state.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "ccf/api/publish_service_api.h"
#include "ccf/api/security_api.h"
#include "ccf/core/access_tokens.h"
#include "ccf/core/aef_directory.h"
#include "ccf/core/scope_authorization.h"
#include "ccf/core/security_methods.h"
#include "ccf/notices/peer_notices.h"
#include "ccf/store/event_subscriptions.h"
#include "common/base64url.h"
#include "common/digest.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/strict_json.h"
#include "common/x509_cert.h"

namespace capif {

using nlohmann::json;

bool SharesWith(const Peer& peer, const std::string& api_name, bool shareable,
                const std::vector<std::string>& shareable_with) {
  const std::vector<std::string>& allowed = peer.agreement.shared_apis;
  if (std::find(allowed.begin(), allowed.end(), api_name) == allowed.end()) return false;
  if (!shareable) return false;
  const std::vector<std::string>& doms = shareable_with;
  return doms.empty() || std::find(doms.begin(), doms.end(), peer.ccf_id.value()) != doms.end() ||
         std::find(doms.begin(), doms.end(), peer.trust_domain.value()) != doms.end();
}

absl::Status LocalCcfState::ApplySharedApiChange(const Peer& peer,
                                                 const SharedApiChangeNotice& change) {
  if (!config_.shared_api_changed) {
    return absl::UnimplementedError("this CCF keeps no event subscriptions");
  }
  return config_.shared_api_changed(peer, change);
}

absl::StatusOr<bool> LocalCcfState::OwnsInvoker(const std::string& api_invoker_id) {
  ASSIGN_OR_RETURN(std::optional<InvokerRecord> r, config_.invokers->Get(ApiInvokerId(api_invoker_id)));
  return r.has_value();
}

absl::StatusOr<std::vector<std::string>> LocalCcfState::ShareableApis(
    const Peer& peer, const std::string& api_name) {
  ASSIGN_OR_RETURN(std::vector<ServiceApiRecord> apis, config_.service_apis->Named(api_name));
  std::vector<ServiceApiRecord> shared;
  for (ServiceApiRecord& api : apis) {
    if (!SharesWith(peer, api.api_name, api.shareable, api.shareable_with)) continue;
    shared.push_back(std::move(api));
  }
  std::vector<std::string> out;
  for (json& api : DescriptionsOf(shared)) {
    api["ccfId"] = config_.ccf_id;
    out.push_back(api.dump());
  }
  return out;
}

absl::StatusOr<std::vector<MethodDecision>> LocalCcfState::SelectSecurityMethods(
    const Peer& peer, const std::string& api_invoker_id, const std::vector<std::string>& preferred,
    const std::vector<std::pair<std::string, std::string>>& targets) {
  ASSIGN_OR_RETURN(bool offboarded, OffboardedAtPeer(peer, api_invoker_id));
  if (offboarded) {
    return absl::PermissionDeniedError(absl::StrCat(
        peer.ccf_id.value(), " announced that invoker ", api_invoker_id, " was offboarded"));
  }
  ASSIGN_OR_RETURN(std::vector<std::string> shared, ShareableApis(peer, ""));
  std::vector<json> apis;
  for (const std::string& text : shared) apis.push_back(json::parse(text, nullptr, false));
  // Grants whose peer never confirmed them (its request failed or was killed half-way) go.
  ASSIGN_OR_RETURN(std::vector<RemoteGrant> expired,
                   config_.grants->RemoveUnconfirmed(config_.clock->Now()));
  if (!expired.empty()) {
    LogInfo("bus", absl::StrCat("removed ", expired.size(), " grant(s) never confirmed by the "
                                "invokers' home CCFs"));
  }
  ASSIGN_OR_RETURN(std::vector<RemoteGrant> existing, config_.grants->OfInvoker(api_invoker_id));
  std::vector<MethodDecision> out;
  for (const auto& [aef_id, api_id] : targets) {
    MethodDecision d{aef_id, api_id, "", ""};
    std::optional<AefMatch> match = FindAefProfile(apis, AefSelector::ById(aef_id), api_id);
    if (!match) {
      d.reason = "the AEF does not expose an API shared with this CCF";
      out.push_back(std::move(d));
      continue;
    }
    if (d.api_id.empty()) d.api_id = match->api_ids[0];
    d.method = SelectSecurityMethod(AefSecurityMethods(match->profile), preferred,
                                    config_.method_priority);
    if (d.method.empty()) {
      d.reason = "no security method in common with the AEF";
    } else {
      // Provisional until the peer confirms it kept the decision (ConfirmGrants).
      RemoteGrant grant{peer.ccf_id.value(), api_invoker_id,   aef_id, d.api_id,
                        d.method,           config_.clock->Now(),
                        config_.clock->Now() + config_.grant_lease};
      // A PSK granted again (renegotiated at the home CCF): the AEF may hold the old AEFPSK, so
      // it is told to drop it and ask again.
      std::vector<OutboundNotice> notices;
      bool old_psk = std::any_of(existing.begin(), existing.end(), [&](const RemoteGrant& g) {
        return g.home_ccf_id == grant.home_ccf_id && g.aef_id == grant.aef_id &&
               g.api_id == grant.api_id && g.selected_method == "PSK";
      });
      if (old_psk && hooks_.tell_aefs) {
        notices.push_back(AefRevokeNotice(NewRequestId(), aef_id, api_invoker_id, {d.api_id},
                                          config_.clock->Now()));
      }
      // The AEF's access control policy for the API now lists the peer's invoker.
      notices.push_back(EventOccurrenceNotice(AclUpdateEvent(d.api_id, aef_id, {api_invoker_id}),
                                              config_.clock->Now()));
      absl::Status put = config_.grants->Put(grant, notices);
      if (absl::IsFailedPrecondition(put)) {  // the offboarding arrived meanwhile
        return absl::PermissionDeniedError(absl::StrCat(
            peer.ccf_id.value(), " announced that invoker ", api_invoker_id, " was offboarded"));
      }
      RETURN_IF_ERROR(put);
      if (HasOutboxNotices(notices) && hooks_.enqueued) hooks_.enqueued();
    }
    out.push_back(std::move(d));
  }
  return out;
}

absl::StatusOr<RemoteSecurityInfo> LocalCcfState::LookupSecurityInfo(
    const Peer& peer, const std::string& api_invoker_id, const std::string& aef_id,
    const std::string& method) {
  ASSIGN_OR_RETURN(std::optional<InvokerRecord> invoker,
                   config_.invokers->Get(ApiInvokerId(api_invoker_id)));
  if (!invoker) return absl::NotFoundError("no such invoker here");
  ASSIGN_OR_RETURN(std::optional<StoredSecurityContext> ctx,
                   config_.contexts->Get(api_invoker_id));
  if (!ctx) return absl::NotFoundError("the invoker has no security context");
  bool other_ccf = false;
  for (const SecurityEntry& e : ctx->entries) {
    if (e.aef_id != aef_id) continue;
    if (e.remote_ccf_id != peer.ccf_id.value()) {
      other_ccf = true;  // that AEF is not the asking CCF's
      continue;
    }
    if (!method.empty() && e.selected_method != method) continue;
    RemoteSecurityInfo info;
    info.method = e.selected_method;
    info.authorization_info = absl::StrJoin(e.api_ids, ",");
    info.notification_destination = ctx->notification_destination;
    if (e.selected_method == "PSK") {
      if (e.psk_expires <= config_.clock->Now()) {
        return absl::NotFoundError("the AEFPSK has expired");
      }
      info.aef_psk = std::string(e.aef_psk.Reveal(InsecureSecretAccess()));
      info.aef_psk_expires_at = absl::ToUnixSeconds(e.psk_expires);
    } else if (e.selected_method == "PKI") {
      info.invoker_root_ca_pem = config_.invoker_root_ca_pem;
    }
    return info;
  }
  if (other_ccf) {
    return absl::PermissionDeniedError(absl::StrCat(
        "AEF ", aef_id, " is not an AEF of ", peer.ccf_id.value(), " for this invoker"));
  }
  return absl::NotFoundError("no security context entry for this AEF and method");
}

absl::StatusOr<ForwardedToken> LocalCcfState::ForwardToken(
    const Peer& peer, const std::string& source, const std::string& scope,
    const std::string& assertion, const std::string& certificate_pem) {
  auto refuse = [](const std::string& error, const std::string& why) {
    return ForwardedToken{"", 0, "", error, why};
  };
  absl::Time now = config_.clock->Now();
  ASSIGN_OR_RETURN(bool offboarded, OffboardedAtPeer(peer, source));
  if (offboarded) return refuse("invalid_client", "the invoker was offboarded at its home CCF");
  // The client assertion's key id, if it names one (RFC 7523 does not require it: the key is
  // the presented certificate's either way).
  std::vector<std::string> parts = absl::StrSplit(assertion, '.');
  if (parts.size() != 3) return refuse("invalid_client", "malformed client assertion");
  auto header_text = Base64UrlDecode(parts[0]);
  auto header = header_text.ok() ? ParseStrictJson(*header_text, 4) : header_text.status();
  if (!header.ok() || !header->is_object()) {
    return refuse("invalid_client", "the client assertion's header is not a JSON object");
  }
  auto kid_member = header->find("kid");
  if (kid_member != header->end() &&
      (!kid_member->is_string() || kid_member->get_ref<const std::string&>().empty())) {
    return refuse("invalid_client", "the client assertion's kid must be a non-empty string");
  }
  // The certificate's key goes in a set of one under this name (kid_optional finds it).
  std::string kid = kid_member != header->end() ? kid_member->get<std::string>() : "certificate";
  // The invoker certificate (the peer's trust domain only, exactly this invoker) and its key as
  // the assertion's JWK. Parsing and verifying it is the most expensive step (OpenSSL 3 decoders),
  // so a verified certificate is remembered for a while (kCertCacheTtl, or its expiry).
  std::string cache_key = absl::StrCat(peer.ccf_id.value(), "|", kid, "|",
                                       absl::BytesToHexString(Sha256(certificate_pem)));
  std::shared_ptr<const JwkSet> keys;
  std::string certified_uri;
  {
    absl::MutexLock lock(&cert_mu_);
    auto it = cert_cache_.find(cache_key);
    if (it != cert_cache_.end() && now < it->second.until) {
      keys = it->second.keys;
      certified_uri = it->second.uri;
    }
  }
  if (!keys) {
    auto chain = X509Cert::ChainFromPem(certificate_pem);
    if (!chain.ok()) return refuse("invalid_client", "unreadable invoker certificate");
    // The peer's configured roots, plus those of its current bundle (a CA roll-over).
    TrustBundle roots = bundles_ != nullptr ? bundles_->RootsOf(peer) : peer.trust_bundle;
    if (!roots.Verify(*chain, now).ok()) {
      return refuse("invalid_client", "the invoker certificate does not chain to the peer's bundle");
    }
    std::vector<std::string> uris = (*chain)[0].UriSans();
    if (uris.size() != 1) return refuse("invalid_client", "the certificate names no single invoker");
    auto fresh = std::make_shared<JwkSet>();
    ASSIGN_OR_RETURN(EvpKey key, (*chain)[0].PublicKey());
    if (!fresh->Add(kid, key).ok()) {
      return refuse("invalid_client", "the invoker key cannot sign ES256 assertions");
    }
    keys = fresh;
    certified_uri = uris[0];
    absl::MutexLock lock(&cert_mu_);
    if (cert_cache_.size() >= kCertCacheMax) {
      for (auto it = cert_cache_.begin(); it != cert_cache_.end();) {
        it = it->second.until <= now ? cert_cache_.erase(it) : std::next(it);
      }
      if (cert_cache_.size() >= kCertCacheMax) cert_cache_.clear();
    }
    cert_cache_[cache_key] = {keys, certified_uri,
                              std::min(now + kCertCacheTtl, (*chain)[0].NotAfter())};
  }
  std::string expected = absl::StrCat("spiffe://", peer.trust_domain.value(), "/invoker/", source);
  if (certified_uri != expected) {
    return refuse("invalid_client", "the certificate is not the source invoker's");
  }
  JwtValidator::Options assertion_rules;
  assertion_rules.typ = "JWT";
  assertion_rules.typ_optional = true;  // RFC 7523 needs no typ; a wrong one is still refused
  assertion_rules.kid_optional = true;
  assertion_rules.issuer = source;
  assertion_rules.audience = config_.ccf_id;
  assertion_rules.audience_must_be_string = true;
  JwtValidator validator(assertion_rules, *config_.clock);
  auto jwt = validator.Verify(assertion, *keys);
  if (!jwt.ok()) return refuse("invalid_client", std::string(jwt.status().message()));
  const json& claims = jwt->claims;
  if (claims.value("sub", "") != source) return refuse("invalid_client", "sub must be the invoker");
  absl::Time exp = jwt->expires_at;
  if (exp > now + absl::Minutes(5) + absl::Seconds(30)) {
    return refuse("invalid_client", "the assertion may live at most 5 minutes");
  }
  std::string jti = claims.value("jti", "");
  if (jti.empty() || jti.size() > 256) return refuse("invalid_client", "the assertion needs a jti");
  // Replay protection lasts as long as the assertion could be accepted (exp + leeway), across
  // restarts (the ids are in the database).
  absl::Status fresh_jti = config_.used_assertions->Remember(
      absl::StrCat(peer.ccf_id.value(), "/", source, "/", jti), exp + absl::Seconds(30), now);
  if (absl::IsAlreadyExists(fresh_jti)) {
    return refuse("invalid_grant", "the client assertion was already used");
  }
  RETURN_IF_ERROR(fresh_jti);
  // The scope: only AEFs and APIs granted to this invoker via this peer, with OAUTH.
  auto parsed = ParseCapifScope(scope);
  if (!parsed.ok()) return refuse("invalid_scope", std::string(parsed.status().message()));
  ASSIGN_OR_RETURN(std::vector<RemoteGrant> grants, config_.grants->OfInvoker(source));
  auto granted = AuthorizeScope(*parsed, [&](const std::string& aef_id) {
    // The APIs of this AEF granted to the invoker via this peer with OAUTH.
    std::vector<std::string> api_ids;
    for (const RemoteGrant& g : grants) {
      if (g.aef_id == aef_id && g.home_ccf_id == peer.ccf_id.value() &&
          g.selected_method == "OAUTH" && g.StandsAt(now)) {
        api_ids.push_back(g.api_id);
      }
    }
    return config_.service_apis->Names(api_ids);
  });
  if (absl::IsInvalidArgument(granted.status())) {
    return refuse("invalid_scope", std::string(granted.status().message()));
  }
  RETURN_IF_ERROR(granted.status());
  std::vector<std::string> audience = *std::move(granted);
  ASSIGN_OR_RETURN(std::string token,
                   MintAccessToken(*config_.keyring, config_.ccf_id, source, scope, audience, now,
                                   config_.token_validity));
  return ForwardedToken{token, absl::ToInt64Seconds(config_.token_validity), scope, "", ""};
}

absl::StatusOr<bool> LocalCcfState::OffboardedAtPeer(const Peer& peer,
                                                     const std::string& api_invoker_id) {
  return config_.grants->IsOffboarded(peer.ccf_id.value(), api_invoker_id);
}

namespace {

bool Covers(const std::vector<std::string>& list, const std::string& item) {
  return list.empty() || std::find(list.begin(), list.end(), item) != list.end();
}

}  // namespace

absl::Status LocalCcfState::ApplyAefCcfRevocation(const Peer& peer, const PeerNotice& notice) {
  const std::string& invoker = notice.api_invoker_id;
  ASSIGN_OR_RETURN(std::optional<InvokerRecord> ours, config_.invokers->Get(ApiInvokerId(invoker)));
  if (!ours) return absl::OkStatus();  // not (or no longer) ours: nothing to change
  for (int attempt = 0; attempt < 5; ++attempt) {
    ASSIGN_OR_RETURN(std::optional<StoredSecurityContext> ctx, config_.contexts->Get(invoker));
    if (!ctx) return absl::OkStatus();
    // The peer's entries for those AEFs lose the APIs named (all of them when none is).
    bool changed = false;
    std::set<std::string> removed_apis = RevokeApis(
        ctx->entries,
        [&](const SecurityEntry& e) {
          return e.remote_ccf_id == peer.ccf_id.value() && Covers(notice.aef_ids, e.aef_id);
        },
        [&](const std::string& a) { return Covers(notice.api_ids, a); }, &changed);
    if (!changed) return absl::OkStatus();  // a repeat, or nothing of that peer's
    CapifEventOccurrence event;
    event.event = kEventInvokerAuthorizationRevoked;
    event.api_invoker_ids = {invoker};
    event.api_ids.assign(removed_apis.begin(), removed_apis.end());
    event.aef_ids = notice.aef_ids;
    event.detail = {{"apiInvokerIds", json::array({invoker})}};
    if (!event.api_ids.empty()) event.detail["apiIds"] = event.api_ids;
    auto written = config_.contexts->Write(*ctx, ctx->version,
                                           {EventOccurrenceNotice(event, config_.clock->Now())});
    if (absl::IsAborted(written.status())) continue;
    RETURN_IF_ERROR(written.status());
    LogInfo("bus", absl::StrCat(peer.ccf_id.value(), " revoked invoker ", invoker, " at AEF(s) ",
                                absl::StrJoin(notice.aef_ids, ","), " (",
                                notice.cause.substr(0, 40), ")"));
    return absl::OkStatus();
  }
  return absl::UnavailableError("the invoker's security context kept changing");
}

absl::Status LocalCcfState::ApplyPeerNotice(const Peer& peer, const PeerNotice& notice) {
  if (notice.from_aef_ccf) return ApplyAefCcfRevocation(peer, notice);
  const std::string& invoker = notice.api_invoker_id;
  ASSIGN_OR_RETURN(std::vector<RemoteGrant> grants, config_.grants->OfInvoker(invoker));
  std::vector<RemoteGrant> covered;
  std::map<std::string, std::vector<std::string>> apis_by_aef;
  for (const RemoteGrant& g : grants) {
    if (g.home_ccf_id != peer.ccf_id.value()) continue;
    if (!notice.offboarding &&
        (!Covers(notice.aef_ids, g.aef_id) || !Covers(notice.api_ids, g.api_id))) {
      continue;
    }
    covered.push_back(g);
    if (!g.api_id.empty()) apis_by_aef[g.aef_id].push_back(g.api_id);
  }
  // The AEFs' notices, the tombstone and the removal of the grants in one transaction; the peer
  // repeats the notice until we acknowledge it, and a repeat changes nothing.
  std::vector<OutboundNotice> out;
  if (hooks_.tell_aefs) {
    for (const auto& [aef, apis] : apis_by_aef) {
      // Derived from the peer's notice id, so a repeated notice enqueues nothing new.
      out.push_back(AefRevokeNotice(absl::StrCat(notice.notice_id, "/", aef), aef, invoker, apis,
                                    config_.clock->Now()));
    }
  }
  for (const RemoteGrant& g : covered) {
    out.push_back(
        EventOccurrenceNotice(AclUpdateEvent(g.api_id, g.aef_id, {invoker}), config_.clock->Now()));
  }
  std::optional<OffboardedInvoker> tombstone;
  if (notice.offboarding) {
    tombstone = OffboardedInvoker{peer.ccf_id.value(), invoker, notice.notice_id,
                                  notice.occurred_at, config_.clock->Now()};
  }
  RETURN_IF_ERROR(config_.grants->Remove(covered, tombstone, out));
  if (HasOutboxNotices(out) && hooks_.enqueued) hooks_.enqueued();
  if (!covered.empty() && hooks_.forget_invoker) hooks_.forget_invoker(invoker);
  return absl::OkStatus();
}

absl::Status LocalCcfState::ConfirmGrants(
    const Peer& peer, const std::string& api_invoker_id,
    const std::vector<std::pair<std::string, std::string>>& targets) {
  ASSIGN_OR_RETURN(int confirmed,
                   config_.grants->Confirm(peer.ccf_id.value(), api_invoker_id, targets));
  if (confirmed == 0) {
    LogInfo("bus", absl::StrCat(peer.ccf_id.value(), " confirmed grants of ", api_invoker_id,
                                " that are no longer held (expired or already confirmed)"));
  }
  return absl::OkStatus();
}

std::string LocalCcfState::JwksJson() { return config_.keyring->jwks()->ToJson().dump(); }

}  // namespace capif

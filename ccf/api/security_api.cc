#include "ccf/api/security_api.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <set>
#include <type_traits>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ccf/api/certification.h"
#include "ccf/api/invoker_management_api.h"
#include "ccf/api/provider_management_api.h"
#include "ccf/api/publish_service_api.h"
#include "ccf/core/access_tokens.h"
#include "ccf/core/aef_directory.h"
#include "ccf/core/scope_authorization.h"
#include "ccf/core/security_methods.h"
#include "ccf/notices/peer_notices.h"
#include "ccf/store/event_subscriptions.h"
#include "common/aef_psk.h"
#include "common/capif_scope.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "net/http_input.h"

namespace capif {
namespace {

using nlohmann::json;


// Public view of a stored entry: without the private members.
// The TS 29.222 SecurityInformation of an entry, as the invoker and the AEF see it (no
// authenticationInfo: GetForAef adds it for the AEF).
json EntryJson(const SecurityEntry& e) {
  json out = json::object();
  if (e.interface_details) {
    const InterfaceAddress& a = *e.interface_details;
    json i = json::object();
    if (a.ipv4_addr) i["ipv4Addr"] = *a.ipv4_addr;
    if (a.ipv6_addr) i["ipv6Addr"] = *a.ipv6_addr;
    if (a.fqdn) i["fqdn"] = *a.fqdn;
    if (a.port) i["port"] = *a.port;
    if (a.api_prefix) i["apiPrefix"] = *a.api_prefix;
    out["interfaceDetails"] = i;
  } else {
    out["aefId"] = e.aef_id;  // the schema allows one of interfaceDetails and aefId
  }
  if (e.api_id) out["apiId"] = *e.api_id;
  out["prefSecurityMethods"] = e.pref_methods;
  out["selSecurityMethod"] = e.selected_method;
  out["authorizationInfo"] = absl::StrJoin(e.api_ids, ",");
  return out;
}

// The TS 29.222 ServiceSecurity of a context.
json ContextJson(const StoredSecurityContext& c) {
  json out = {{"notificationDestination", c.notification_destination},
              {"securityInfo", json::array()}};
  if (c.supported_features) out["supportedFeatures"] = *c.supported_features;
  if (c.request_test_notification) out["requestTestNotification"] = *c.request_test_notification;
  if (c.websocket_uri || c.request_websocket_uri) {
    json w = json::object();
    if (c.websocket_uri) w["websocketUri"] = *c.websocket_uri;
    if (c.request_websocket_uri) w["requestWebsocketUri"] = *c.request_websocket_uri;
    out["websockNotifConfig"] = w;
  }
  for (const SecurityEntry& e : c.entries) out["securityInfo"].push_back(EntryJson(e));
  return out;
}

// How long the AEF may keep what it was given: until the first AEFPSK in it expires, 5 minutes
// without one (PKI: the invoker's root CA). TS 29.222 carries no validity; standard HTTP caching
// says it, "private" so only the AEF itself may store it.
constexpr int64_t kDefaultSecurityInfoSeconds = 300;

RestResponse SecurityInfoResponse(const json& body, int64_t max_age_seconds) {
  RestResponse r = RestResponse::Json(200, body);
  r.headers.emplace_back("Cache-Control",
                         absl::StrCat("private, max-age=", std::max<int64_t>(0, max_age_seconds)));
  return r;
}

// When a peer CCF could not answer: how long the caller should wait before retrying.
constexpr int kPeerRetryAfterSeconds = 5;

// A change lost a race with another (compare-and-swap on the context's version): redone this
// many times before the caller is told 409.
constexpr int kWriteAttempts = 3;

absl::Status Conflict() {
  return RestError(409, "the security context changed meanwhile; retry the request",
                   "RESOURCE_CONFLICT");
}

absl::Status TokenError(int http, const std::string& error, const std::string& description) {
  // Carried as a ProblemDetails-free error: Token() turns it into an AccessTokenErr body.
  return RestError(http, absl::StrCat(error, "|", description));
}

RestResponse AccessTokenErr(const absl::Status& s) {
  auto [http, problem] = ProblemFromStatus(s);
  std::string msg(s.message());
  size_t bar = msg.find('|');
  json body = {{"error", bar == std::string::npos ? "invalid_request" : msg.substr(0, bar)}};
  if (bar != std::string::npos) body["error_description"] = msg.substr(bar + 1);
  RestResponse r = RestResponse::Json(http, body);
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

}  // namespace

void SecurityApi::RegisterRoutes(RestRouter& server) {
  const std::string base = std::string(kSecurityRoot) + "/trustedInvokers/([^/]+)";
  server.Route("PUT", base, [this](const RestRequest& r) { return Create(r); });
  server.Route("GET", base, [this](const RestRequest& r) { return GetForAef(r); });
  server.Route("DELETE", base, [this](const RestRequest& r) { return Remove(r); });
  server.Route("POST", base + "/update", [this](const RestRequest& r) { return AddEntries(r); });
  server.Route("POST", base + "/delete", [this](const RestRequest& r) { return RevokeByAef(r); });
  server.Route("POST", std::string(kSecurityRoot) + "/securities/([^/]+)/token",
               [this](const RestRequest& r) { return Token(r); });
  server.Route("GET", kJwksPath, [this](const RestRequest& r) { return Jwks(r); });
  server.Route("GET", kTokenIssuersPath, [this](const RestRequest& r) { return TokenIssuers(r); });
  server.Route("POST", std::string(kSecurityRoot) + "/introspect",
               [this](const RestRequest& r) { return Introspect(r); });
}

absl::StatusOr<std::string> SecurityApi::RequireInvokerSelf(const RestRequest& req) {
  std::string id = req.path_params.empty() ? "" : req.path_params[0];
  if (!req.caller) return RestError(401, "a client certificate of the invoker is required");
  if (req.caller->kind() != SpiffeId::Kind::kInvoker ||
      req.caller->trust_domain() != config_.ca->trust_domain() || req.caller->id() != id) {
    LogWarning("security", absl::StrCat(req.caller->ToString(), " tried to manage the security "
                                        "context of ", absl::CEscape(id.substr(0, 64))));
    return RestError(403, "an invoker may manage only its own security context",
                     "OPERATION_NOT_ALLOWED");
  }
  ASSIGN_OR_RETURN(std::optional<InvokerRecord> inv, config_.invokers->Get(ApiInvokerId(id)));
  if (!inv) return RestError(404, "the API invoker is not onboarded", "API_INVOKER_NOT_FOUND");
  return id;
}

absl::Status SecurityApi::BuildEntries(const RestRequest& req, const json& body,
                                       std::vector<SecurityEntry>* stored) {
  ASSIGN_OR_RETURN(const json* infos,
                   RequiredMember(body, "securityInfo", "", JsonType::kArray, /*non_empty=*/true));
  if (infos->size() > 100) return InvalidParamError("securityInfo", "at most 100 entries");
  std::optional<CapifTlsKeyMaterial> tls;  // derived once, only if some entry selects PSK
  std::optional<SharedApiSnapshot> shared_by_peers;  // fetched once, only if needed
  stored->clear();
  for (size_t i = 0; i < infos->size(); ++i) {
    const json& e = (*infos)[i];
    std::string at = absl::StrCat("securityInfo[", i, "]");
    if (!e.is_object()) return InvalidParamError(at, "must be an object");
    ASSIGN_OR_RETURN(const json* pref, RequiredMember(e, "prefSecurityMethods", at + ".",
                                                      JsonType::kArray, /*non_empty=*/true));
    std::vector<std::string> preferred;
    for (const json& m : *pref) {
      if (!m.is_string() || (m != "PSK" && m != "PKI" && m != "OAUTH")) {
        return InvalidParamError(at + ".prefSecurityMethods", "items must be PSK, PKI or OAUTH");
      }
      preferred.push_back(m.get<std::string>());
    }
    bool by_aef = e.contains("aefId"), by_interface = e.contains("interfaceDetails");
    if (by_aef == by_interface) {
      return InvalidParamError(at, "needs exactly one of aefId, interfaceDetails");
    }
    if (by_aef && (!e["aefId"].is_string() || e["aefId"].get_ref<const std::string&>().empty())) {
      return InvalidParamError(at + ".aefId", "must be a non-empty string");
    }
    if (by_interface && !e["interfaceDetails"].is_object()) {
      return InvalidParamError(at + ".interfaceDetails", "must be an object");
    }
    std::optional<InterfaceAddress> asked_interface;
    if (by_interface) {
      ASSIGN_OR_RETURN(asked_interface, InterfaceAddressOfJson(e["interfaceDetails"], at + ".interfaceDetails"));
    }
    if (e.contains("apiId") && !e["apiId"].is_string()) {
      return InvalidParamError(at + ".apiId", "must be a string");
    }
    std::string want_api = e.value("apiId", "");
    // The published AEF profile this entry is about: ours, else (by aefId) one of an API a peer
    // shares with us (peers are asked at most once per request, however many entries need it).
    AefSelector selector = by_aef ? AefSelector::ById(e["aefId"].get<std::string>())
                                  : AefSelector::ByInterface(e["interfaceDetails"]);
    ASSIGN_OR_RETURN(std::vector<ServiceApiRecord> candidates,
                     by_aef ? config_.service_apis->WithAef(selector.aef_id)
                            : config_.service_apis->WithInterface(*asked_interface));
    std::optional<AefMatch> match = FindAefProfile(DescriptionsOf(candidates), selector, want_api);
    bool remote = false;
    if (!match && by_aef && config_.remote != nullptr) {
      if (!shared_by_peers) shared_by_peers = config_.remote->SharedApis("");
      match = FindAefProfile(shared_by_peers->apis, selector, want_api);
      remote = match.has_value() && !match->ccf_id.empty();
      if (match && !remote) match.reset();  // a peer's description must say whose it is
      if (!match && !shared_by_peers->unreachable.empty()) {
        // Not "not found": a peer that may publish it could not be asked.
        return absl::UnavailableError(absl::StrCat(
            at, ": the AEF is not published here, and peer CCF(s) ",
            absl::StrJoin(shared_by_peers->unreachable, ", "),
            " could not be asked for the APIs they share; retry later"));
      }
    }
    if (!match) {
      return RestError(404, absl::StrCat(at, ": no published service API has this AEF"),
                       "RESOURCE_NOT_FOUND",
                       {{by_aef ? at + ".aefId" : at + ".interfaceDetails", "unknown AEF"}});
    }
    const json& profile = match->profile;
    const json& iface = match->interface;
    std::vector<std::string> api_ids = match->api_ids;
    std::string remote_ccf = remote ? match->ccf_id : "";
    std::string remote_api_name = remote ? match->api_name : "";
    if (remote) api_ids.resize(1);  // the peer decides for one API (the first, unless named)
    std::string selected;
    if (remote) {
      ASSIGN_OR_RETURN(MethodDecision d, config_.remote->RequestSecurityMethod(
                                             remote_ccf, req.caller->id(), preferred,
                                             selector.aef_id, want_api));
      if (d.method.empty()) {
        return RestError(400, absl::StrCat(at, ": ", remote_ccf, " refused: ", d.reason.substr(0, 120)),
                         "INVALID_PARAMETER",
                         {{at + ".prefSecurityMethods", "no method agreed with the AEF's CCF"}});
      }
      selected = d.method;
      if (!d.api_id.empty()) api_ids = {d.api_id};
    } else {
      selected = SelectSecurityMethod(AefSecurityMethods(profile), preferred, config_.method_priority);
    }
    if (selected.empty()) {
      return RestError(400, absl::StrCat(at, ": no security method in common with the AEF (it "
                                         "offers ", absl::StrJoin(AefSecurityMethods(profile), ", "), ")"),
                       "INVALID_PARAMETER",
                       {{at + ".prefSecurityMethods", "no method in common with the AEF"}});
    }
    SecurityEntry entry;
    entry.aef_id = profile.value("aefId", "");
    entry.interface_details = asked_interface;
    entry.pref_methods = preferred;
    entry.selected_method = selected;
    entry.api_ids = api_ids;
    if (e.contains("apiId")) {
      entry.api_id = want_api;
    } else if (entry.api_ids.size() == 1) {
      entry.api_id = entry.api_ids[0];
    }
    entry.remote_ccf_id = remote_ccf;
    entry.remote_api_name = remote_api_name;  // for tokens this CCF issues (#24)
    entry.authorized_at = config_.clock->Now();
    if (selected == "PSK") {
      if (!tls) {
        auto material = KeyMaterialFromTls(req.ssl);
        if (!material.ok()) {
          return RestError(400, absl::StrCat("PSK needs key material from this TLS session: ",
                                             material.status().message()),
                           "INVALID_PARAMETER");
        }
        tls = *std::move(material);
      }
      ASSIGN_OR_RETURN(entry.aef_psk,
                       DeriveAefPsk(tls->key, AefInterfaceInfoOfProfile(profile, iface), tls->session_id));
      entry.psk_expires = config_.clock->Now() + config_.psk_validity;
    }
    stored->push_back(std::move(entry));
  }
  return absl::OkStatus();
}

namespace {

bool SameAuthorization(const SecurityEntry& a, const SecurityEntry& b) {
  std::set<std::string> x(a.api_ids.begin(), a.api_ids.end()), y(b.api_ids.begin(), b.api_ids.end());
  return a.aef_id == b.aef_id && a.remote_ccf_id == b.remote_ccf_id && x == y;
}

}  // namespace

std::vector<OutboundNotice> SecurityApi::ReplacedKeyNotices(
    const std::string& invoker, const std::vector<SecurityEntry>& replaced) {
  // The AEF may hold the old AEFPSK (it caches what it fetched): revoke-authorization makes it
  // drop it and ask again, so the invoker's new key works at once and the old one no longer does.
  std::vector<SecurityEntry> psk;
  for (const SecurityEntry& e : replaced) {
    if (e.selected_method == "PSK" && !e.is_remote()) psk.push_back(e);
  }
  return AefNoticesFor(invoker, psk, config_.clock->Now());
}

absl::StatusOr<RestResponse> SecurityApi::Create(const RestRequest& req) {
  ASSIGN_OR_RETURN(std::string id, RequireInvokerSelf(req));
  ASSIGN_OR_RETURN(json body, ParseJsonBody(req));
  ASSIGN_OR_RETURN(const json* destination,
                   RequiredMember(body, "notificationDestination", "", JsonType::kString,
                                  /*non_empty=*/true));
  StoredSecurityContext ctx;
  ctx.api_invoker_id = id;
  ctx.notification_destination = destination->get<std::string>();
  RETURN_IF_ERROR(OptionalMember(body, "supportedFeatures", "", &ctx.supported_features));
  RETURN_IF_ERROR(
      OptionalMember(body, "requestTestNotification", "", &ctx.request_test_notification));
  if (body.contains("websockNotifConfig")) {
    const json& w = body["websockNotifConfig"];
    if (!w.is_object()) return InvalidParamError("websockNotifConfig", "must be an object");
    RETURN_IF_ERROR(OptionalMember(w, "websocketUri", "websockNotifConfig.", &ctx.websocket_uri));
    RETURN_IF_ERROR(OptionalMember(w, "requestWebsocketUri", "websockNotifConfig.",
                                   &ctx.request_websocket_uri));
  }
  // PUT replaces: read what is there, decide (peers included), write if still unchanged.
  for (int attempt = 0; attempt < kWriteAttempts; ++attempt) {
    ASSIGN_OR_RETURN(std::optional<StoredSecurityContext> old,
                     config_.contexts->Get(id));
    absl::Status built = BuildEntries(req, body, &ctx.entries);
    if (IsPeerOutage(built)) return RetryLaterResponse(built, kPeerRetryAfterSeconds);
    RETURN_IF_ERROR(built);
    // Tokens issued before this context (an earlier one, since replaced) never count for it.
    ctx.created = config_.clock->Now();
    std::vector<OutboundNotice> notices =
        old ? ReplacedKeyNotices(id, old->entries) : std::vector<OutboundNotice>{};
    // Peers made their grants on a lease: they are confirmed once this context is stored.
    for (OutboundNotice& n : GrantConfirmationsFor(id, ctx.entries, ctx.created)) {
      notices.push_back(std::move(n));
    }
    for (OutboundNotice& n : AclChangeNotices(id, old ? old->entries : std::vector<SecurityEntry>{},
                                              ctx.entries, ctx.created)) {
      notices.push_back(std::move(n));
    }
    auto written = config_.contexts->Write(ctx, old ? old->version : 0, notices);
    if (absl::IsAborted(written.status())) continue;
    RETURN_IF_ERROR(written.status());
    if (!notices.empty() && config_.notices_enqueued) config_.notices_enqueued();
    RestResponse res = RestResponse::Json(201, ContextJson(ctx));
    res.headers.emplace_back("Location",
                             absl::StrCat(config_.api_root, kSecurityRoot, "/trustedInvokers/", id));
    return res;
  }
  return Conflict();
}

absl::StatusOr<RestResponse> SecurityApi::AddEntries(const RestRequest& req) {
  ASSIGN_OR_RETURN(std::string id, RequireInvokerSelf(req));
  ASSIGN_OR_RETURN(json body, ParseJsonBody(req));
  for (int attempt = 0; attempt < kWriteAttempts; ++attempt) {
    ASSIGN_OR_RETURN(std::optional<StoredSecurityContext> ctx,
                     config_.contexts->Get(id));
    if (!ctx) return RestError(404, "no security context for this invoker", "RESOURCE_NOT_FOUND");
    std::vector<SecurityEntry> added;
    absl::Status built = BuildEntries(req, body, &added);
    if (IsPeerOutage(built)) return RetryLaterResponse(built, kPeerRetryAfterSeconds);
    RETURN_IF_ERROR(built);
    // An entry for the same AEF and APIs as one already there replaces it (e.g. a PSK
    // renegotiated on a new TLS session: the old AEFPSK dies).
    // Peers made their grants for the added entries on a lease: confirmed with this write.
    std::vector<OutboundNotice> confirmations =
        GrantConfirmationsFor(id, added, config_.clock->Now());
    const std::vector<SecurityEntry> before = ctx->entries;
    std::vector<SecurityEntry> replaced;
    for (SecurityEntry& e : added) {
      auto same = std::find_if(ctx->entries.begin(), ctx->entries.end(),
                               [&](const SecurityEntry& x) { return SameAuthorization(x, e); });
      if (same != ctx->entries.end()) {
        replaced.push_back(std::move(*same));
        *same = std::move(e);
      } else {
        ctx->entries.push_back(std::move(e));
      }
    }
    std::vector<OutboundNotice> notices = ReplacedKeyNotices(id, replaced);
    for (OutboundNotice& n : confirmations) notices.push_back(std::move(n));
    for (OutboundNotice& n : AclChangeNotices(id, before, ctx->entries, config_.clock->Now())) {
      notices.push_back(std::move(n));
    }
    auto written = config_.contexts->Write(*ctx, ctx->version, notices);
    if (absl::IsAborted(written.status())) continue;
    RETURN_IF_ERROR(written.status());
    if (!notices.empty() && config_.notices_enqueued) config_.notices_enqueued();
    return RestResponse::Json(200, ContextJson(*ctx));
  }
  return Conflict();
}

absl::StatusOr<RestResponse> SecurityApi::Remove(const RestRequest& req) {
  ASSIGN_OR_RETURN(std::string id, RequireInvokerSelf(req));
  for (int attempt = 0; attempt < kWriteAttempts; ++attempt) {
    ASSIGN_OR_RETURN(std::optional<StoredSecurityContext> ctx,
                     config_.contexts->Get(id));
    if (!ctx) return RestError(404, "no security context", "RESOURCE_NOT_FOUND");
    // Peers whose AEFs the context names hold grants for them: tell them (solution #17).
    std::vector<OutboundNotice> notices =
        PeerNoticesFor(id, ctx->entries, /*offboarding=*/false,
                       "security context deleted by the invoker", config_.clock->Now());
    // And our own AEFs (TS 29.222 AEF_Security_API revoke-authorization).
    for (OutboundNotice& n : AefNoticesFor(id, ctx->entries, config_.clock->Now())) {
      notices.push_back(std::move(n));
    }
    for (OutboundNotice& n : AclChangeNotices(id, ctx->entries, {}, config_.clock->Now())) {
      notices.push_back(std::move(n));
    }
    absl::Status s = config_.contexts->Delete(id, ctx->version, notices);
    if (absl::IsAborted(s)) continue;
    if (absl::IsNotFound(s)) return RestError(404, "no security context", "RESOURCE_NOT_FOUND");
    RETURN_IF_ERROR(s);
    if (!notices.empty() && config_.notices_enqueued) config_.notices_enqueued();
    return RestResponse::NoContent();
  }
  return Conflict();
}

absl::StatusOr<RestResponse> SecurityApi::GetForAef(const RestRequest& req) {
  std::string id = req.path_params.empty() ? "" : req.path_params[0];
  if (!req.caller) return RestError(401, "a client certificate of the AEF is required");
  if (req.caller->kind() != SpiffeId::Kind::kAef ||
      req.caller->trust_domain() != config_.ca->trust_domain()) {
    LogWarning("security", absl::StrCat(req.caller->ToString(), " (not an AEF) asked for the "
                                        "security information of ", absl::CEscape(id.substr(0, 64))));
    return RestError(403, "only an AEF may read an invoker's security information",
                     "OPERATION_NOT_ALLOWED");
  }
  const std::string& aef_id = req.caller->id();
  // A certificate outlives a deregistration: the AEF must still be registered.
  if (!FindProviderFunction(*config_.providers, aef_id, ProviderRole::kAef).ok()) {
    LogWarning("security", absl::StrCat(req.caller->ToString(), " is not a registered AEF"));
    return RestError(403, "the AEF is not registered", "OPERATION_NOT_ALLOWED");
  }
  bool want_authn = req.Query("authenticationInfo").value_or("") == "true";
  bool want_authz = req.Query("authorizationInfo").value_or("") == "true";
  ASSIGN_OR_RETURN(std::optional<StoredSecurityContext> ctx,
                   config_.contexts->Get(id));
  if (!ctx) return GetForAefFromHome(id, aef_id, want_authn, want_authz);
  json out = ContextJson(*ctx);
  out["securityInfo"] = json::array();
  absl::Time now = config_.clock->Now();
  std::optional<absl::Duration> psk_left;  // the shortest remaining AEFPSK validity given out
  for (const SecurityEntry& e : ctx->entries) {
    if (e.aef_id != aef_id) continue;  // an AEF sees only its own entries
    json pub = EntryJson(e);
    if (!want_authz) pub.erase("authorizationInfo");
    if (want_authn) {
      if (e.selected_method == "PSK") {
        if (e.psk_expires <= now) continue;  // expired: not offered
        pub["authenticationInfo"] =
            absl::BytesToHexString(e.aef_psk.Reveal(InsecureSecretAccess()));
        absl::Duration left = e.psk_expires - now;
        psk_left = psk_left ? std::min(*psk_left, left) : left;
      } else if (e.selected_method == "PKI") {
        ASSIGN_OR_RETURN(pub["authenticationInfo"], config_.ca->certificate().ToPem());
      }
    }
    out["securityInfo"].push_back(std::move(pub));
  }
  if (out["securityInfo"].empty()) {
    return RestError(404, "no valid security information of this invoker for the calling AEF",
                     "RESOURCE_NOT_FOUND");
  }
  return SecurityInfoResponse(
      out, psk_left ? absl::ToInt64Seconds(*psk_left) : kDefaultSecurityInfoSeconds);
}

void SecurityApi::ForgetRemoteInvoker(const std::string& api_invoker_id) {
  std::string prefix = absl::StrCat(api_invoker_id, "@");
  absl::MutexLock lock(&cache_mu_);
  for (auto it = remote_cache_.lower_bound(prefix);
       it != remote_cache_.end() && absl::StartsWith(it->first, prefix);) {
    it = remote_cache_.erase(it);
  }
}

void SecurityApi::ForgetAllRemoteInvokers() {
  absl::MutexLock lock(&cache_mu_);
  remote_cache_.clear();
}

absl::StatusOr<RemoteSecurityInfo> SecurityApi::RemoteInfo(const std::string& cache_key,
                                                          const std::string& home,
                                                          const std::string& invoker_id,
                                                          const std::string& aef_id,
                                                          const std::string& method) {
  {
    absl::MutexLock lock(&cache_mu_);
    auto it = remote_cache_.find(cache_key);
    if (it != remote_cache_.end() && config_.clock->Now() < it->second.second) {
      return it->second.first;
    }
  }
  auto fetched = config_.remote->LookupSecurityInfo(home, invoker_id, aef_id, method);
  if (!fetched.ok()) {
    LogWarning("security", absl::StrCat("security information of ", invoker_id, " from ", home,
                                        " refused: ", fetched.status().message()));
    return fetched.status();
  }
  absl::Time until = fetched->method == "PSK"
                         ? absl::FromUnixSeconds(fetched->aef_psk_expires_at)
                         : config_.clock->Now() + absl::Minutes(5);
  absl::MutexLock lock(&cache_mu_);
  remote_cache_[cache_key] = {*fetched, until};
  return *fetched;
}

namespace {

json RemoteEntry(const std::string& aef_id, const std::string& api_id,
                 const RemoteSecurityInfo& info, bool want_authn, bool want_authz) {
  json entry = {{"aefId", aef_id}, {"prefSecurityMethods", {info.method}},
                {"selSecurityMethod", info.method}};
  if (!api_id.empty()) entry["apiId"] = api_id;
  if (want_authz) entry["authorizationInfo"] = info.authorization_info;
  if (want_authn && info.method == "PSK") {
    entry["authenticationInfo"] = absl::BytesToHexString(info.aef_psk);
  }
  if (want_authn && info.method == "PKI") entry["authenticationInfo"] = info.invoker_root_ca_pem;
  return entry;
}

}  // namespace

absl::StatusOr<RestResponse> SecurityApi::GetForAefFromHome(const std::string& invoker_id,
                                                            const std::string& aef_id,
                                                            bool want_authn, bool want_authz) {
  if (config_.remote == nullptr) {
    return RestError(404, "no security context for this invoker", "RESOURCE_NOT_FOUND");
  }
  // Not our invoker: if its home CCF asked us for this AEF (#12), ask it back (#13, #17, #18).
  ASSIGN_OR_RETURN(std::vector<RemoteGrant> grants, config_.grants->OfInvoker(invoker_id));
  json entries = json::array();
  bool granted = false;
  absl::Time now = config_.clock->Now();
  int64_t now_s = absl::ToUnixSeconds(now);
  std::optional<int64_t> psk_left;
  absl::Status outage;  // a peer that could not answer (kept if nothing else answers)
  std::string destination;  // the invoker's notificationDestination, from its home
  auto limit = [&](const RemoteSecurityInfo& info) {
    if (destination.empty()) destination = info.notification_destination;
    if (info.method != "PSK") return;
    int64_t left = info.aef_psk_expires_at - now_s;
    psk_left = psk_left ? std::min(*psk_left, left) : left;
  };
  for (const RemoteGrant& g : grants) {
    if (g.aef_id != aef_id || !g.StandsAt(now)) continue;
    granted = true;
    // Keyed by the grant and when it was made: a newer grant never sees an older grant's keys.
    absl::StatusOr<RemoteSecurityInfo> info = RemoteInfo(
        absl::StrCat(invoker_id, "@", aef_id, "@", g.api_id, "@", g.home_ccf_id, "#",
                     absl::ToUnixMicros(g.granted_at)),
        g.home_ccf_id, invoker_id, aef_id, g.selected_method);
    if (info.ok()) {
      entries.push_back(RemoteEntry(aef_id, g.api_id, *info, want_authn, want_authz));
      limit(*info);
    } else if (IsPeerOutage(info.status())) {
      outage = info.status();
    }
  }
  // An AEF here revoked it (and told its home): until the home asks again (a new grant), the
  // ownership query must not find its old authorization.
  ASSIGN_OR_RETURN(bool revoked_here, config_.grants->RevokedByAef(invoker_id, aef_id));
  if (!granted && !revoked_here) {
    // No grant names the home CCF (the method was agreed through another CCF, or the grant is
    // gone): find the home by the ownership query (#14) and ask it whatever it selected. The
    // home answers only if the invoker's context names this AEF as ours.
    auto home = config_.remote->FindInvokerHome(invoker_id);
    if (home.ok()) {
      absl::StatusOr<RemoteSecurityInfo> info = RemoteInfo(
          absl::StrCat(invoker_id, "@", aef_id, "@owner:", *home), *home, invoker_id, aef_id, "");
      if (info.ok()) {
        entries.push_back(RemoteEntry(aef_id, "", *info, want_authn, want_authz));
        limit(*info);
      } else if (IsPeerOutage(info.status())) {
        outage = info.status();
      }
    } else {
      if (IsPeerOutage(home.status())) outage = home.status();
      LogInfo("security", absl::StrCat("home CCF of ", invoker_id.substr(0, 64),
                                       " not found: ", home.status().message()));
    }
  }
  if (entries.empty() && !outage.ok()) {
    // Not "no security context": the CCF that would know could not be asked.
    return RetryLaterResponse(outage, kPeerRetryAfterSeconds);
  }
  if (entries.empty()) {
    return RestError(404, "no security context for this invoker", "RESOURCE_NOT_FOUND");
  }
  // notificationDestination is required by the schema: the invoker's own, as its home CCF told
  // (this CCF's API root only if the home sent none that is a URI, as older peers do).
  return SecurityInfoResponse(
      {{"securityInfo", entries},
       {"notificationDestination", destination.empty() ? config_.api_root : destination}},
      psk_left.value_or(kDefaultSecurityInfoSeconds));
}

absl::StatusOr<RestResponse> SecurityApi::RevokeByAef(const RestRequest& req) {
  std::string id = req.path_params.empty() ? "" : req.path_params[0];
  if (!req.caller) return RestError(401, "a client certificate of the AEF is required");
  if (req.caller->kind() != SpiffeId::Kind::kAef ||
      req.caller->trust_domain() != config_.ca->trust_domain()) {
    return RestError(403, "only an AEF may revoke an invoker's authorization",
                     "OPERATION_NOT_ALLOWED");
  }
  if (!FindProviderFunction(*config_.providers, req.caller->id(), ProviderRole::kAef).ok()) {
    return RestError(403, "the AEF is not registered", "OPERATION_NOT_ALLOWED");
  }
  ASSIGN_OR_RETURN(json body, ParseJsonBody(req));
  ASSIGN_OR_RETURN(const json* invoker,
                   RequiredMember(body, "apiInvokerId", "", JsonType::kString));
  if (*invoker != id)
    return InvalidParamError("apiInvokerId", "must equal the path's apiInvokerId");
  RETURN_IF_ERROR(
      RequiredMember(body, "apiIds", "", JsonType::kArray, /*non_empty=*/true).status());
  RETURN_IF_ERROR(RequiredMember(body, "cause", "", JsonType::kString).status());
  if (body.contains("aefId") && body["aefId"] != req.caller->id()) {
    return RestError(403, "an AEF may revoke only its own authorizations", "OPERATION_NOT_ALLOWED");
  }
  std::set<std::string> revoked;
  for (const json& a : body["apiIds"]) {
    if (a.is_string()) revoked.insert(a.get<std::string>());
  }
  const std::string& aef_id = req.caller->id();
  for (int attempt = 0; attempt < kWriteAttempts; ++attempt) {
    ASSIGN_OR_RETURN(std::optional<StoredSecurityContext> ctx,
                     config_.contexts->Get(id));
    if (!ctx)
      return RevokeRemoteInvoker(req, id, aef_id, revoked, body["cause"].get<std::string>());
    // Each API is revoked on its own: an entry covering several keeps the others.
    const std::vector<SecurityEntry> before = ctx->entries;
    bool changed = false;
    RevokeApis(
        ctx->entries, [&](const SecurityEntry& e) { return e.aef_id == aef_id && !e.is_remote(); },
        [&](const std::string& a) { return revoked.count(a) > 0; }, &changed);
    // API_INVOKER_AUTHORIZATION_REVOKED for the subscribers, in the same transaction.
    CapifEventOccurrence event;
    event.event = kEventInvokerAuthorizationRevoked;
    event.api_invoker_ids = {id};
    event.api_ids.assign(revoked.begin(), revoked.end());
    event.aef_ids = {aef_id};
    event.detail = {{"apiInvokerIds", json::array({id})}, {"apiIds", event.api_ids}};
    std::vector<OutboundNotice> events =
        AclChangeNotices(id, before, ctx->entries, config_.clock->Now());
    events.push_back(EventOccurrenceNotice(event, config_.clock->Now()));
    auto written = config_.contexts->Write(*ctx, ctx->version, events);
    if (absl::IsAborted(written.status())) continue;
    RETURN_IF_ERROR(written.status());
    LogInfo("security", absl::StrCat(req.caller->ToString(), " revoked invoker ", id, " (",
                                     body["cause"].get<std::string>().substr(0, 40), ")"));
    return RestResponse::NoContent();
  }
  return Conflict();
}

absl::StatusOr<RestResponse> SecurityApi::RevokeRemoteInvoker(const RestRequest& req,
                                                              const std::string& id,
                                                              const std::string& aef_id,
                                                              const std::set<std::string>& revoked,
                                                              const std::string& cause) {
  // A peer's invoker: the grants its home obtained for this AEF and these APIs go, and the home
  // is told (RevocationNotice from the AEFs' CCF) in the same transaction, so that it removes
  // them from the invoker's security context and tells its subscribers.
  if (config_.grants == nullptr) {
    return RestError(404, "no security context for this invoker", "RESOURCE_NOT_FOUND");
  }
  ASSIGN_OR_RETURN(std::vector<RemoteGrant> grants, config_.grants->OfInvoker(id));
  std::vector<RemoteGrant> covered;
  std::map<std::string, std::vector<std::string>> apis_by_home;
  for (const RemoteGrant& g : grants) {
    if (g.aef_id != aef_id || revoked.count(g.api_id) == 0) continue;
    covered.push_back(g);
    apis_by_home[g.home_ccf_id].push_back(g.api_id);
  }
  if (covered.empty()) {
    return RestError(404, "no security context for this invoker", "RESOURCE_NOT_FOUND");
  }
  std::vector<OutboundNotice> notices;
  const absl::Time now = config_.clock->Now();
  for (const auto& [home, apis] : apis_by_home) {
    notices.push_back(AefCcfRevocationNotice(home, id, aef_id, apis, cause.substr(0, 256), now));
  }
  for (const RemoteGrant& g : covered) {
    notices.push_back(EventOccurrenceNotice(AclUpdateEvent(g.api_id, g.aef_id, {id}), now));
  }
  RETURN_IF_ERROR(config_.grants->RemoveRevokedByAef(covered, id, aef_id, now, notices));
  if (config_.notices_enqueued) config_.notices_enqueued();
  if (config_.remote_invoker_revoked) config_.remote_invoker_revoked(id);
  LogInfo("security", absl::StrCat(req.caller->ToString(), " revoked invoker ", id, " of ",
                                   apis_by_home.begin()->first, " (", cause.substr(0, 40), ")"));
  return RestResponse::NoContent();
}

namespace {

// What the invoker gets for the answer of the AEFs' CCF to its forwarded token request.
absl::StatusOr<RestResponse> ForwardedTokenAnswer(const absl::StatusOr<ForwardedToken>& forwarded) {
  if (!forwarded.ok()) {
    return RetryLaterResponse(
        RestError(503, absl::StrCat("the AEFs' CCF did not answer: ", forwarded.status().message())),
        kPeerRetryAfterSeconds);
  }
  if (!forwarded->error.empty()) {
    return AccessTokenErr(TokenError(forwarded->error == "invalid_client" ? 401 : 400,
                                     forwarded->error, forwarded->error_description));
  }
  RestResponse res = RestResponse::Json(200, {{"access_token", forwarded->access_token},
                                              {"token_type", "Bearer"},
                                              {"expires_in", forwarded->expires_in},
                                              {"scope", forwarded->scope}});
  res.headers.emplace_back("Cache-Control", "no-store");
  return res;
}

}  // namespace

absl::StatusOr<RestResponse> SecurityApi::Token(const RestRequest& req) {
  std::string security_id = req.path_params.empty() ? "" : req.path_params[0];
  auto fail = [](const absl::Status& s) -> absl::StatusOr<RestResponse> { return AccessTokenErr(s); };
  if (MediaType(req.Header("content-type")) != "application/x-www-form-urlencoded") {
    return RestError(415, "the token request must be application/x-www-form-urlencoded");
  }
  auto parsed_form = ParseUniqueForm(req.body);
  if (!parsed_form.ok()) {
    return fail(TokenError(400, "invalid_request", std::string(parsed_form.status().message())));
  }
  std::map<std::string, std::string>& form = *parsed_form;
  if (form["grant_type"] != "client_credentials") {
    return fail(TokenError(400, "unsupported_grant_type", "only client_credentials is supported"));
  }
  const std::string& client_id = form["client_id"];
  if (client_id.empty() || form["scope"].empty()) {
    return fail(TokenError(400, "invalid_request", "client_id and scope are required"));
  }
  // Client authentication: the onboarding secret, and a matching certificate if one was shown.
  ASSIGN_OR_RETURN(std::optional<InvokerRecord> inv,
                   config_.invokers->Get(ApiInvokerId(client_id)));
  // CAPIF-1e is mutually authenticated after onboarding: the certificate must be the client's.
  bool cert_ok = req.caller && req.caller->kind() == SpiffeId::Kind::kInvoker &&
                 req.caller->trust_domain() == config_.ca->trust_domain() &&
                 req.caller->id() == client_id;
  bool secret_ok = false;
  if (inv) {
    std::string digest = OnboardingSecretDigest(inv->secret_salt, SecretBytes(form["client_secret"]));
    secret_ok = digest.size() == inv->secret_digest.size() &&
                CRYPTO_memcmp(digest.data(), inv->secret_digest.data(), digest.size()) == 0;
  }
  if (!inv || client_id != security_id || !secret_ok || !cert_ok) {
    LogWarning("security", absl::StrCat("token request refused for client_id ",
                                        absl::CEscape(client_id.substr(0, 64))));
    return fail(TokenError(401, "invalid_client", "client authentication failed"));
  }
  auto scope = ParseCapifScope(form["scope"]);
  if (!scope.ok()) return fail(TokenError(400, "invalid_scope", std::string(scope.status().message())));
  ASSIGN_OR_RETURN(std::optional<StoredSecurityContext> ctx,
                   config_.contexts->Get(client_id));
  const std::vector<SecurityEntry> no_entries;
  const std::vector<SecurityEntry>& entries = ctx ? ctx->entries : no_entries;
  // AEFs of another CCF (#15): forwarded there, without the secret, with the assertion.
  std::set<std::string> remote_ccfs;
  bool any_local = false;
  for (const auto& [aef_id, api_names] : *scope) {
    bool remote = false;
    for (const SecurityEntry& e : entries) {
      if (e.aef_id == aef_id && e.is_remote()) {
        remote_ccfs.insert(e.remote_ccf_id);
        remote = true;
      }
    }
    any_local = any_local || !remote;
  }
  if (!remote_ccfs.empty()) {
    if (remote_ccfs.size() > 1 || any_local) {
      return fail(TokenError(400, "invalid_scope", "a token covers the AEFs of one CCF only"));
    }
    const std::string& peer = *remote_ccfs.begin();
    if (config_.home_issued_token_peers.count(peer) > 0) {
      // #24, home-issued variant: this CCF issues; the peer selected OAUTH for each AEF and API
      // (its answer is in the entry), and gives its AEFs this CCF's keys.
      auto audience = AuthorizeScope(*scope, [&](const std::string& aef_id) {
        std::set<std::string> names;
        for (const SecurityEntry& e : entries) {
          if (e.aef_id == aef_id && e.remote_ccf_id == peer && e.selected_method == "OAUTH") {
            names.insert(e.remote_api_name);
          }
        }
        return absl::StatusOr<std::set<std::string>>(names);
      });
      if (!audience.ok()) {
        return fail(TokenError(400, "invalid_scope", std::string(audience.status().message())));
      }
      return IssueToken(client_id, form["scope"], *audience);
    }
    if (form["client_assertion_type"] != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" ||
        form["client_assertion"].empty()) {
      return fail(TokenError(400, "invalid_request",
                             "AEFs of another CCF need a client_assertion (jwt-bearer)"));
    }
    if (config_.remote == nullptr) {
      return fail(TokenError(400, "invalid_scope", "no peer CCFs configured"));
    }
    // The answer waits for the peer without holding a worker (the server's deferred answer).
    PeerRequests* remote = config_.remote;
    return RestResponse::Deferred(
        [remote, peer, client_id, scope = form["scope"], assertion = form["client_assertion"],
         certificate = inv->certificate_pem](RestResponder done) {
          remote->ForwardTokenAsync(
              peer, client_id, scope, assertion, certificate,
              [done](absl::StatusOr<ForwardedToken> forwarded) {
                done(ForwardedTokenAnswer(forwarded));
              });
        });
  }
  auto audience = AuthorizeScope(*scope, [&](const std::string& aef_id) {
    std::vector<std::string> api_ids;
    for (const SecurityEntry& e : entries) {
      if (e.aef_id == aef_id && e.selected_method == "OAUTH") {
        api_ids.insert(api_ids.end(), e.api_ids.begin(), e.api_ids.end());
      }
    }
    return config_.service_apis->Names(api_ids);
  });
  if (absl::IsInvalidArgument(audience.status())) {
    return fail(TokenError(400, "invalid_scope", std::string(audience.status().message())));
  }
  RETURN_IF_ERROR(audience.status());
  return IssueToken(client_id, form["scope"], *audience);
}

absl::StatusOr<RestResponse> SecurityApi::IssueToken(const std::string& client_id,
                                                     const std::string& scope,
                                                     const std::vector<std::string>& audience) {
  ASSIGN_OR_RETURN(std::string token,
                   MintAccessToken(*config_.keyring, config_.issuer, client_id, scope, audience,
                                   config_.clock->Now(), config_.token_validity));
  RestResponse res = RestResponse::Json(
      200, {{"access_token", token},
            {"token_type", "Bearer"},
            {"expires_in", absl::ToInt64Seconds(config_.token_validity)},
            {"scope", scope}});
  res.headers.emplace_back("Cache-Control", "no-store");
  return res;
}

absl::StatusOr<RestResponse> SecurityApi::Jwks(const RestRequest&) {
  return RestResponse::Json(200, config_.keyring->jwks()->ToJson());
}

absl::StatusOr<RestResponse> SecurityApi::Introspect(const RestRequest& req) {
  if (!req.caller) return RestError(401, "a client certificate of the AEF is required");
  if (req.caller->kind() != SpiffeId::Kind::kAef ||
      req.caller->trust_domain() != config_.ca->trust_domain() ||
      !FindProviderFunction(*config_.providers, req.caller->id(), ProviderRole::kAef).ok()) {
    return RestError(403, "only a registered AEF of this CCF may introspect tokens",
                     "OPERATION_NOT_ALLOWED");
  }
  if (MediaType(req.Header("content-type")) != "application/x-www-form-urlencoded") {
    return RestError(415, "the introspection request must be application/x-www-form-urlencoded");
  }
  auto form = ParseUniqueForm(req.body);
  if (!form.ok() || (*form)["token"].empty() || (*form)["token"].size() > 16384) {
    return RestError(400, "token is required (RFC 7662)", "INVALID_PARAMETER");
  }
  const std::string& aef_id = req.caller->id();
  json inactive = {{"active", false}};
  // Which issuer: this CCF (its keys as they are), else a peer whose tokens our AEFs accept
  // (#24; their JWKS parsed only then).
  const std::string& token = (*form)["token"];
  auto verify = [&](const std::string& iss, const JwkSet& keys) {
    return JwtValidator({"at+jwt", iss, aef_id, false, absl::Seconds(30)}, *config_.clock)
        .Verify(token, keys);
  };
  std::string issuer = config_.issuer;
  absl::StatusOr<VerifiedJwt> jwt = verify(issuer, *config_.keyring->jwks());
  if (!jwt.ok() && config_.peer_token_issuers) {
    for (const auto& [iss, jwks_json] : config_.peer_token_issuers()) {
      auto keys = JwkSet::FromJson(jwks_json);
      if (!keys.ok()) continue;
      jwt = verify(iss, *keys);
      if (jwt.ok()) {
        issuer = iss;
        break;
      }
    }
  }
  if (!jwt.ok()) return RestResponse::Json(200, inactive);
  std::string client = jwt->claims.value("client_id", "");
  absl::Time iat = jwt->issued_at;
  // The token is only as good as the authorization behind it now: revoked or offboarded
  // invokers' tokens are inactive before their exp (TR 33.700-22 KI#2 requirement 3), and so are
  // tokens issued before the authorization that stands now (times to the microsecond).
  bool authorized = false;
  ASSIGN_OR_RETURN(std::optional<InvokerRecord> local, config_.invokers->Get(ApiInvokerId(client)));
  if (local && issuer == config_.issuer) {
    ASSIGN_OR_RETURN(std::optional<StoredSecurityContext> ctx,
                     config_.contexts->Get(client));
    if (ctx && iat >= ctx->created) {
      for (const SecurityEntry& e : ctx->entries) {
        authorized = authorized || (e.aef_id == aef_id && e.selected_method == "OAUTH" &&
                                    !e.is_remote() && iat >= e.authorized_at);
      }
    }
  } else if (!local) {
    ASSIGN_OR_RETURN(std::vector<RemoteGrant> grants, config_.grants->OfInvoker(client));
    absl::Time now = config_.clock->Now();
    for (const RemoteGrant& g : grants) {
      // Our tokens: the grant of any peer; a peer's token: that peer's grant.
      authorized = authorized || (g.aef_id == aef_id && g.selected_method == "OAUTH" &&
                                  g.StandsAt(now) && iat >= g.granted_at &&
                                  (issuer == config_.issuer || g.home_ccf_id == issuer));
    }
  }
  if (!authorized) {
    LogInfo("security", absl::StrCat("introspection by ", aef_id, ": token ",
                                     jwt->claims.value("jti", ""), " of ", client.substr(0, 64),
                                     " no longer authorized"));
    return RestResponse::Json(200, inactive);
  }
  json out = {{"active", true}, {"token_type", "Bearer"}};
  for (const char* claim : {"iss", "sub", "client_id", "scope", "aud", "iat", "exp", "jti"}) {
    if (jwt->claims.contains(claim)) out[claim] = jwt->claims[claim];
  }
  RestResponse res = RestResponse::Json(200, out);
  res.headers.emplace_back("Cache-Control", "no-store");
  return res;
}

absl::StatusOr<RestResponse> SecurityApi::TokenIssuers(const RestRequest&) {
  json issuers = json::array({{{"iss", config_.issuer}, {"jwks", config_.keyring->jwks()->ToJson()}}});
  if (config_.peer_token_issuers) {
    for (const auto& [iss, jwks] : config_.peer_token_issuers()) {
      json keys = json::parse(jwks, nullptr, false);
      if (keys.is_object()) issuers.push_back({{"iss", iss}, {"jwks", keys}});
    }
  }
  return RestResponse::Json(200, {{"issuers", issuers}});
}

}  // namespace capif

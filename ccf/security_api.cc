#include "ccf/security_api.h"

#include "common/capif_scope.h"

#include "ccf/peer_notices.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "ccf/certification.h"
#include "ccf/invoker_management_api.h"
#include "ccf/provider_management_api.h"
#include "ccf/publish_service_api.h"
#include "common/aef_psk.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace capif {
namespace {

using nlohmann::json;

constexpr const char* kPskMember = kEntryPskMember;
constexpr const char* kPskExpiresMember = kEntryPskExpiresMember;
constexpr const char* kAefCcfMember = kEntryAefCcfMember;

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Public view of a stored entry: without the private members.
// application/x-www-form-urlencoded (strict: a parameter given twice is an error).
absl::StatusOr<std::map<std::string, std::string>> ParseForm(absl::string_view body) {
  std::map<std::string, std::string> form;
  for (absl::string_view pair : absl::StrSplit(body, '&', absl::SkipEmpty())) {
    std::vector<std::string> kv = absl::StrSplit(pair, absl::MaxSplits('=', 1));
    std::string value = kv.size() == 2 ? kv[1] : "";
    std::replace(value.begin(), value.end(), '+', ' ');
    std::string decoded;
    for (size_t i = 0; i < value.size(); ++i) {
      if (value[i] == '%' && i + 2 < value.size() && absl::ascii_isxdigit(value[i + 1]) &&
          absl::ascii_isxdigit(value[i + 2])) {
        decoded += static_cast<char>(std::stoi(value.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        decoded += value[i];
      }
    }
    if (!form.emplace(kv[0], decoded).second) {
      return absl::InvalidArgumentError(absl::StrCat("duplicate parameter ", kv[0].substr(0, 32)));
    }
  }
  return form;
}

json PublicEntry(const json& e) {
  json out = e;
  out.erase(kPskMember);
  out.erase(kPskExpiresMember);
  out.erase(kAefCcfMember);
  out.erase(kEntryApiNameMember);
  return out;
}

// How long the AEF may keep what it was given: until the first AEFPSK in it expires, 5 minutes
// without one (PKI: the invoker's root CA) (TS 29.222 carries no validity; standard HTTP caching says it, "private" so only
// the AEF itself may store it).
constexpr int64_t kDefaultSecurityInfoSeconds = 300;

RestResponse SecurityInfoResponse(const json& body, int64_t max_age_seconds) {
  RestResponse r = RestResponse::Json(200, body);
  r.headers.emplace_back("Cache-Control",
                         absl::StrCat("private, max-age=", std::max<int64_t>(0, max_age_seconds)));
  return r;
}

json PublicContext(const json& ctx) {
  json out = ctx;
  out.erase(kContextSinceMember);
  out["securityInfo"] = json::array();
  for (const json& e : ctx["securityInfo"]) out["securityInfo"].push_back(PublicEntry(e));
  return out;
}

bool SameInterface(const json& a, const json& b) {
  for (const char* k : {"ipv4Addr", "ipv6Addr", "fqdn", "port", "apiPrefix"}) {
    if (a.contains(k) != b.contains(k)) return false;
    if (a.contains(k) && a[k] != b[k]) return false;
  }
  return true;
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

void SecurityApi::RegisterRoutes(NorthboundServer& server) {
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

absl::Status SecurityApi::BuildEntries(const RestRequest& req, const json& body, json* stored) {
  auto infos = body.find("securityInfo");
  if (infos == body.end() || !infos->is_array() || infos->empty()) {
    return InvalidParamError("securityInfo", "is required (a non-empty array)");
  }
  if (infos->size() > 100) return InvalidParamError("securityInfo", "at most 100 entries");
  ASSIGN_OR_RETURN(std::vector<Resource> apis, config_.resources->List(kResourceServiceApi, ""));
  std::optional<CapifTlsKeyMaterial> tls;  // derived once, only if some entry selects PSK
  std::optional<std::vector<json>> shared_by_peers;  // fetched once, only if needed
  *stored = json::array();
  for (size_t i = 0; i < infos->size(); ++i) {
    const json& e = (*infos)[i];
    std::string at = absl::StrCat("securityInfo[", i, "]");
    if (!e.is_object()) return InvalidParamError(at, "must be an object");
    auto pref = e.find("prefSecurityMethods");
    if (pref == e.end() || !pref->is_array() || pref->empty()) {
      return InvalidParamError(at + ".prefSecurityMethods", "is required (a non-empty array)");
    }
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
    if (e.contains("apiId") && !e["apiId"].is_string()) {
      return InvalidParamError(at + ".apiId", "must be a string");
    }
    std::string want_api = e.value("apiId", "");
    // Find the published AEF profile this entry is about.
    json profile, iface, api_ids = json::array();
    for (const Resource& r : apis) {
      if (!want_api.empty() && r.id != want_api) continue;
      json api = json::parse(r.json);
      for (const json& p : api["aefProfiles"]) {
        bool match = false;
        if (by_aef) {
          match = p["aefId"] == e["aefId"];
        } else {
          for (const json& x : p.value("interfaceDescriptions", json::array())) {
            if (SameInterface(x, e["interfaceDetails"])) {
              match = true;
              iface = x;
            }
          }
        }
        if (!match) continue;
        if (profile.is_null()) profile = p;
        if (p["aefId"] == profile["aefId"]) api_ids.push_back(r.id);
      }
    }
    std::string remote_ccf, remote_api_name;
    if (profile.is_null() && by_aef && config_.remote != nullptr) {
      // Not ours: is it an AEF of an API a peer shares with us? (Peers are asked at most once
      // per request, however many entries name remote AEFs.)
      if (!shared_by_peers) shared_by_peers = config_.remote->SharedApis("");
      for (const json& api : *shared_by_peers) {
        if (!want_api.empty() && api.value("apiId", "") != want_api) continue;
        for (const json& p : api.value("aefProfiles", json::array())) {
          if (p.value("aefId", "") == e["aefId"] && profile.is_null()) {
            profile = p;
            remote_ccf = api.value("ccfId", "");
            api_ids = json::array({api.value("apiId", "")});
            remote_api_name = api.value("apiName", "");
          }
        }
      }
    }
    if (profile.is_null()) {
      return RestError(404, absl::StrCat(at, ": no published service API has this AEF"),
                       "RESOURCE_NOT_FOUND",
                       {{by_aef ? at + ".aefId" : at + ".interfaceDetails", "unknown AEF"}});
    }
    std::string selected;
    if (!remote_ccf.empty()) {
      ASSIGN_OR_RETURN(MethodDecision d, config_.remote->RequestSecurityMethod(
                                             remote_ccf, req.caller->id(), preferred,
                                             e["aefId"].get<std::string>(), want_api));
      if (d.method.empty()) {
        return RestError(400, absl::StrCat(at, ": ", remote_ccf, " refused: ", d.reason.substr(0, 120)),
                         "INVALID_PARAMETER",
                         {{at + ".prefSecurityMethods", "no method agreed with the AEF's CCF"}});
      }
      selected = d.method;
      if (!d.api_id.empty()) api_ids = json::array({d.api_id});
    } else {
      std::vector<std::string> offered = AefSecurityMethods(profile);
      for (const std::string& m : config_.method_priority) {
        if (Contains(offered, m) && Contains(preferred, m)) {
          selected = m;
          break;
        }
      }
    }
    if (selected.empty()) {
      return RestError(400, absl::StrCat(at, ": no security method in common with the AEF (it "
                                         "offers ", absl::StrJoin(AefSecurityMethods(profile), ", "), ")"),
                       "INVALID_PARAMETER",
                       {{at + ".prefSecurityMethods", "no method in common with the AEF"}});
    }
    json entry = e;
    entry["aefId"] = profile["aefId"];
    entry["selSecurityMethod"] = selected;
    if (api_ids.size() == 1 && !entry.contains("apiId")) entry["apiId"] = api_ids[0];
    entry["authorizationInfo"] = absl::StrJoin(api_ids.get<std::vector<std::string>>(), ",");
    if (!remote_ccf.empty()) {
      entry[kAefCcfMember] = remote_ccf;
      entry[kEntryApiNameMember] = remote_api_name;  // for tokens this CCF issues (#24)
    }
    entry.erase("authenticationInfo");
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
      ASSIGN_OR_RETURN(SecretBytes psk,
                       DeriveAefPsk(tls->key, AefInterfaceInfoOfProfile(profile, iface), tls->session_id));
      entry[kPskMember] = absl::BytesToHexString(psk.Reveal(InsecureSecretAccess()));
      entry[kPskExpiresMember] = absl::ToUnixSeconds(config_.clock->Now() + config_.psk_validity);
    }
    stored->push_back(std::move(entry));
  }
  return absl::OkStatus();
}

absl::StatusOr<RestResponse> SecurityApi::Create(const RestRequest& req) {
  ASSIGN_OR_RETURN(std::string id, RequireInvokerSelf(req));
  ASSIGN_OR_RETURN(json body, ParseJsonBody(req));
  if (!body.contains("notificationDestination") || !body["notificationDestination"].is_string()) {
    return InvalidParamError("notificationDestination", "is required (a URI string)");
  }
  json entries;
  RETURN_IF_ERROR(BuildEntries(req, body, &entries));
  json ctx = {{"notificationDestination", body["notificationDestination"]},
              {"securityInfo", entries}};
  for (const char* k : {"supportedFeatures", "requestTestNotification", "websockNotifConfig"}) {
    if (body.contains(k)) ctx[k] = body[k];
  }
  // Tokens issued before this context (an earlier one, since deleted) never count for it.
  ctx[kContextSinceMember] = absl::ToUnixSeconds(config_.clock->Now());
  Resource r{kResourceSecurityContext, id, id, ctx.dump()};
  absl::Status s = config_.resources->Insert(r);
  if (absl::IsAlreadyExists(s)) s = config_.resources->Update(r);  // PUT replaces
  RETURN_IF_ERROR(s);
  RestResponse res = RestResponse::Json(201, PublicContext(ctx));
  res.headers.emplace_back("Location",
                           absl::StrCat(config_.api_root, kSecurityRoot, "/trustedInvokers/", id));
  return res;
}

absl::StatusOr<RestResponse> SecurityApi::AddEntries(const RestRequest& req) {
  ASSIGN_OR_RETURN(std::string id, RequireInvokerSelf(req));
  ASSIGN_OR_RETURN(json body, ParseJsonBody(req));
  ASSIGN_OR_RETURN(std::optional<Resource> r, config_.resources->Get(kResourceSecurityContext, id));
  if (!r) return RestError(404, "no security context for this invoker", "RESOURCE_NOT_FOUND");
  json entries;
  RETURN_IF_ERROR(BuildEntries(req, body, &entries));
  json ctx = json::parse(r->json);
  for (json& e : entries) ctx["securityInfo"].push_back(std::move(e));
  r->json = ctx.dump();
  RETURN_IF_ERROR(config_.resources->Update(*r));
  return RestResponse::Json(200, PublicContext(ctx));
}

absl::StatusOr<RestResponse> SecurityApi::Remove(const RestRequest& req) {
  ASSIGN_OR_RETURN(std::string id, RequireInvokerSelf(req));
  ASSIGN_OR_RETURN(std::optional<Resource> ctx,
                   config_.resources->Get(kResourceSecurityContext, id));
  if (!ctx) return RestError(404, "no security context", "RESOURCE_NOT_FOUND");
  // Peers whose AEFs the context names hold grants for them: tell them (solution #17).
  std::vector<OutboundNotice> notices =
      PeerNoticesFor(id, ctx->json, /*offboarding=*/false, "security context deleted by the invoker",
                     config_.clock->Now());
  // And our own AEFs (TS 29.222 AEF_Security_API revoke-authorization).
  for (OutboundNotice& n : AefNoticesFor(id, ctx->json, config_.clock->Now())) {
    notices.push_back(std::move(n));
  }
  absl::Status s = config_.resources->Delete(kResourceSecurityContext, id, notices);
  if (absl::IsNotFound(s)) return RestError(404, "no security context", "RESOURCE_NOT_FOUND");
  RETURN_IF_ERROR(s);
  if (!notices.empty() && config_.notices_enqueued) config_.notices_enqueued();
  return RestResponse::NoContent();
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
  if (!FindProviderFunction(*config_.resources, aef_id, "AEF").ok()) {
    LogWarning("security", absl::StrCat(req.caller->ToString(), " is not a registered AEF"));
    return RestError(403, "the AEF is not registered", "OPERATION_NOT_ALLOWED");
  }
  bool want_authn = req.Query("authenticationInfo").value_or("") == "true";
  bool want_authz = req.Query("authorizationInfo").value_or("") == "true";
  ASSIGN_OR_RETURN(std::optional<Resource> r, config_.resources->Get(kResourceSecurityContext, id));
  if (!r) return GetForAefFromHome(id, aef_id, want_authn, want_authz);
  json ctx = json::parse(r->json);
  json out = PublicContext(ctx);
  out["securityInfo"] = json::array();
  int64_t now = absl::ToUnixSeconds(config_.clock->Now());
  std::optional<int64_t> psk_left;  // the shortest remaining AEFPSK validity given out
  for (const json& e : ctx["securityInfo"]) {
    if (e.value("aefId", "") != aef_id) continue;  // an AEF sees only its own entries
    json pub = PublicEntry(e);
    if (!want_authz) pub.erase("authorizationInfo");
    if (want_authn) {
      std::string method = e.value("selSecurityMethod", "");
      if (method == "PSK") {
        if (e.value(kPskExpiresMember, int64_t{0}) <= now) continue;  // expired: not offered
        pub["authenticationInfo"] = e[kPskMember];
        int64_t left = e.value(kPskExpiresMember, int64_t{0}) - now;
        psk_left = psk_left ? std::min(*psk_left, left) : left;
      } else if (method == "PKI") {
        ASSIGN_OR_RETURN(pub["authenticationInfo"], config_.ca->certificate().ToPem());
      }
    }
    out["securityInfo"].push_back(std::move(pub));
  }
  if (out["securityInfo"].empty()) {
    return RestError(404, "no valid security information of this invoker for the calling AEF",
                     "RESOURCE_NOT_FOUND");
  }
  return SecurityInfoResponse(out, psk_left.value_or(kDefaultSecurityInfoSeconds));
}

void SecurityApi::ForgetRemoteInvoker(const std::string& api_invoker_id) {
  std::string prefix = absl::StrCat(api_invoker_id, "@");
  absl::MutexLock lock(&cache_mu_);
  for (auto it = remote_cache_.lower_bound(prefix);
       it != remote_cache_.end() && absl::StartsWith(it->first, prefix);) {
    it = remote_cache_.erase(it);
  }
}

std::optional<RemoteSecurityInfo> SecurityApi::RemoteInfo(const std::string& cache_key,
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
    return std::nullopt;
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
  ASSIGN_OR_RETURN(std::vector<Resource> grants,
                   config_.resources->List(kResourceRemoteGrant, invoker_id));
  json entries = json::array();
  bool granted = false;
  int64_t now = absl::ToUnixSeconds(config_.clock->Now());
  std::optional<int64_t> psk_left;
  auto limit = [&](const RemoteSecurityInfo& info) {
    if (info.method != "PSK") return;
    int64_t left = info.aef_psk_expires_at - now;
    psk_left = psk_left ? std::min(*psk_left, left) : left;
  };
  for (const Resource& r : grants) {
    json g = json::parse(r.json);
    if (g.value("aefId", "") != aef_id) continue;
    granted = true;
    // Keyed by the grant and when it was made: a newer grant never sees an older grant's keys.
    std::optional<RemoteSecurityInfo> info =
        RemoteInfo(absl::StrCat(r.id, "#", g.value("grantedAt", int64_t{0})),
                   g.value("homeCcfId", ""), invoker_id, aef_id, g.value("selSecurityMethod", ""));
    if (info) {
      entries.push_back(RemoteEntry(aef_id, g.value("apiId", ""), *info, want_authn, want_authz));
      limit(*info);
    }
  }
  if (!granted) {
    // No grant names the home CCF (the method was agreed through another CCF, or the grant is
    // gone): find the home by the ownership query (#14) and ask it whatever it selected. The
    // home answers only if the invoker's context names this AEF as ours.
    auto home = config_.remote->FindInvokerHome(invoker_id);
    if (home.ok()) {
      std::optional<RemoteSecurityInfo> info = RemoteInfo(
          absl::StrCat(invoker_id, "@", aef_id, "@owner:", *home), *home, invoker_id, aef_id, "");
      if (info) {
        entries.push_back(RemoteEntry(aef_id, "", *info, want_authn, want_authz));
        limit(*info);
      }
    } else {
      LogInfo("security", absl::StrCat("home CCF of ", invoker_id.substr(0, 64),
                                       " not found: ", home.status().message()));
    }
  }
  if (entries.empty()) {
    return RestError(404, "no security context for this invoker", "RESOURCE_NOT_FOUND");
  }
  // notificationDestination is required by the schema; the invoker's own stays at its home CCF.
  return SecurityInfoResponse({{"securityInfo", entries},
                               {"notificationDestination", config_.api_root}},
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
  if (!FindProviderFunction(*config_.resources, req.caller->id(), "AEF").ok()) {
    return RestError(403, "the AEF is not registered", "OPERATION_NOT_ALLOWED");
  }
  ASSIGN_OR_RETURN(json body, ParseJsonBody(req));
  if (!body.contains("apiInvokerId") || body["apiInvokerId"] != id) {
    return InvalidParamError("apiInvokerId", "is required and must equal the path");
  }
  if (!body.contains("apiIds") || !body["apiIds"].is_array() || body["apiIds"].empty()) {
    return InvalidParamError("apiIds", "is required (a non-empty array)");
  }
  if (!body.contains("cause") || !body["cause"].is_string()) {
    return InvalidParamError("cause", "is required");
  }
  if (body.contains("aefId") && body["aefId"] != req.caller->id()) {
    return RestError(403, "an AEF may revoke only its own authorizations", "OPERATION_NOT_ALLOWED");
  }
  ASSIGN_OR_RETURN(std::optional<Resource> r, config_.resources->Get(kResourceSecurityContext, id));
  if (!r) return RestError(404, "no security context for this invoker", "RESOURCE_NOT_FOUND");
  std::set<std::string> revoked;
  for (const json& a : body["apiIds"]) {
    if (a.is_string()) revoked.insert(a.get<std::string>());
  }
  json ctx = json::parse(r->json);
  json kept = json::array();
  for (const json& e : ctx["securityInfo"]) {
    bool mine = e.value("aefId", "") == req.caller->id();
    if (mine && (revoked.count(e.value("apiId", "")) > 0 ||
                 revoked.count(e.value("authorizationInfo", "")) > 0)) {
      continue;
    }
    kept.push_back(e);
  }
  ctx["securityInfo"] = kept;
  r->json = ctx.dump();
  RETURN_IF_ERROR(config_.resources->Update(*r));
  LogInfo("security", absl::StrCat(req.caller->ToString(), " revoked invoker ", id, " (",
                                   body["cause"].get<std::string>().substr(0, 40), ")"));
  return RestResponse::NoContent();
}

absl::StatusOr<RestResponse> SecurityApi::Token(const RestRequest& req) {
  std::string security_id = req.path_params.empty() ? "" : req.path_params[0];
  auto fail = [](const absl::Status& s) -> absl::StatusOr<RestResponse> { return AccessTokenErr(s); };
  std::string type = absl::AsciiStrToLower(req.Header("content-type"));
  if (!absl::StartsWith(type, "application/x-www-form-urlencoded")) {
    return RestError(415, "the token request must be application/x-www-form-urlencoded");
  }
  auto parsed_form = ParseForm(req.body);
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
  ASSIGN_OR_RETURN(std::optional<Resource> ctx_res,
                   config_.resources->Get(kResourceSecurityContext, client_id));
  json ctx = ctx_res ? json::parse(ctx_res->json) : json{{"securityInfo", json::array()}};
  // AEFs of another CCF (#15): forwarded there, without the secret, with the assertion.
  std::set<std::string> remote_ccfs;
  bool any_local = false;
  for (const auto& [aef_id, api_names] : *scope) {
    bool remote = false;
    for (const json& e : ctx["securityInfo"]) {
      if (e.value("aefId", "") == aef_id && e.contains(kAefCcfMember)) {
        remote_ccfs.insert(e[kAefCcfMember].get<std::string>());
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
      std::vector<std::string> audience;
      for (const auto& [aef_id, api_names] : *scope) {
        std::set<std::string> granted;
        for (const json& e : ctx["securityInfo"]) {
          if (e.value("aefId", "") == aef_id && e.value(kAefCcfMember, "") == peer &&
              e.value("selSecurityMethod", "") == "OAUTH") {
            granted.insert(e.value(kEntryApiNameMember, ""));
          }
        }
        for (const std::string& name : api_names) {
          if (granted.count(name) == 0) {
            return fail(TokenError(400, "invalid_scope",
                                   absl::StrCat("API ", name.substr(0, 64), " of AEF ", aef_id,
                                                " is not authorized with OAUTH")));
          }
        }
        audience.push_back(aef_id);
      }
      return IssueToken(client_id, form["scope"], audience);
    }
    if (form["client_assertion_type"] != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" ||
        form["client_assertion"].empty()) {
      return fail(TokenError(400, "invalid_request",
                             "AEFs of another CCF need a client_assertion (jwt-bearer)"));
    }
    if (config_.remote == nullptr) {
      return fail(TokenError(400, "invalid_scope", "no peer CCFs configured"));
    }
    auto forwarded = config_.remote->ForwardToken(*remote_ccfs.begin(), client_id, form["scope"],
                                                  form["client_assertion"], inv->certificate_pem);
    if (!forwarded.ok()) {
      return RestError(503, absl::StrCat("the AEFs' CCF did not answer: ",
                                         forwarded.status().message()));
    }
    if (!forwarded->error.empty()) {
      return fail(TokenError(forwarded->error == "invalid_client" ? 401 : 400, forwarded->error,
                             forwarded->error_description));
    }
    RestResponse res = RestResponse::Json(200, {{"access_token", forwarded->access_token},
                                                {"token_type", "Bearer"},
                                                {"expires_in", forwarded->expires_in},
                                                {"scope", forwarded->scope}});
    res.headers.emplace_back("Cache-Control", "no-store");
    return res;
  }
  ASSIGN_OR_RETURN(std::vector<Resource> apis, config_.resources->List(kResourceServiceApi, ""));
  std::vector<std::string> audience;
  for (const auto& [aef_id, api_names] : *scope) {
    std::set<std::string> granted_api_ids;
    for (const json& e : ctx["securityInfo"]) {
      if (e.value("aefId", "") == aef_id && e.value("selSecurityMethod", "") == "OAUTH") {
        for (absl::string_view a : absl::StrSplit(e.value("authorizationInfo", ""), ',', absl::SkipEmpty())) {
          granted_api_ids.insert(std::string(a));
        }
      }
    }
    if (granted_api_ids.empty()) {
      return fail(TokenError(400, "invalid_scope",
                             absl::StrCat("no OAUTH security context for AEF ", aef_id)));
    }
    for (const std::string& name : api_names) {
      bool found = false;
      for (const Resource& r : apis) {
        if (granted_api_ids.count(r.id) == 0) continue;
        found = found || json::parse(r.json).value("apiName", "") == name;
      }
      if (!found) {
        return fail(TokenError(400, "invalid_scope",
                               absl::StrCat("API ", name.substr(0, 64), " of AEF ", aef_id,
                                            " is not authorized")));
      }
    }
    audience.push_back(aef_id);
  }
  return IssueToken(client_id, form["scope"], audience);
}

absl::StatusOr<RestResponse> SecurityApi::IssueToken(const std::string& client_id,
                                                     const std::string& scope,
                                                     const std::vector<std::string>& audience) {
  absl::Time now = config_.clock->Now();
  json claims = {{"iss", config_.issuer},
                 {"sub", client_id},
                 {"client_id", client_id},
                 {"scope", scope},
                 {"iat", absl::ToUnixSeconds(now)},
                 {"exp", absl::ToUnixSeconds(now + config_.token_validity)},
                 {"jti", NewResourceId("jti")}};
  claims["aud"] = audience.size() == 1 ? json(audience[0]) : json(audience);
  ASSIGN_OR_RETURN(std::string token, config_.keyring->signer()->Sign("at+jwt", claims));
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
      !FindProviderFunction(*config_.resources, req.caller->id(), "AEF").ok()) {
    return RestError(403, "only a registered AEF of this CCF may introspect tokens",
                     "OPERATION_NOT_ALLOWED");
  }
  std::string type = absl::AsciiStrToLower(req.Header("content-type"));
  if (!absl::StartsWith(type, "application/x-www-form-urlencoded")) {
    return RestError(415, "the introspection request must be application/x-www-form-urlencoded");
  }
  auto form = ParseForm(req.body);
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
  int64_t iat = jwt->claims.value("iat", int64_t{0});
  // The token is only as good as the authorization behind it now: revoked or offboarded
  // invokers' tokens are inactive before their exp (TR 33.700-22 KI#2 requirement 3).
  bool authorized = false;
  ASSIGN_OR_RETURN(std::optional<InvokerRecord> local, config_.invokers->Get(ApiInvokerId(client)));
  if (local && issuer == config_.issuer) {
    ASSIGN_OR_RETURN(std::optional<Resource> ctx,
                     config_.resources->Get(kResourceSecurityContext, client));
    json doc = ctx ? json::parse(ctx->json) : json();
    if (ctx && iat >= doc.value(kContextSinceMember, int64_t{0})) {
      for (const json& e : doc["securityInfo"]) {
        authorized = authorized || (e.value("aefId", "") == aef_id &&
                                    e.value("selSecurityMethod", "") == "OAUTH" &&
                                    !e.contains(kAefCcfMember));
      }
    }
  } else if (!local) {
    ASSIGN_OR_RETURN(std::vector<Resource> grants,
                     config_.resources->List(kResourceRemoteGrant, client));
    for (const Resource& r : grants) {
      json g = json::parse(r.json);
      // Our tokens: the grant of any peer; a peer's token: that peer's grant.
      authorized = authorized || (g.value("aefId", "") == aef_id &&
                                  g.value("selSecurityMethod", "") == "OAUTH" &&
                                  iat >= g.value("grantedAt", int64_t{0}) &&
                                  (issuer == config_.issuer || g.value("homeCcfId", "") == issuer));
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

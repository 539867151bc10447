#include "ccf/api/invoker_management_api.h"

#include "ccf/notices/peer_notices.h"
#include "common/digest.h"

#include "ccf/api/certification.h"

#include <openssl/evp.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/base64url.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/x509_cert.h"

namespace capif {
namespace {

using nlohmann::json;

constexpr char kKeyParam[] = "onboardingInformation.apiInvokerPublicKey";

}  // namespace

absl::Status ValidateEnrolment(const json& body, InvokerRecord* r) {
  auto info = body.find("onboardingInformation");
  if (info == body.end()) return InvalidParamError("onboardingInformation", "is required");
  if (!info->is_object()) return InvalidParamError("onboardingInformation", "must be an object");
  auto key = info->find("apiInvokerPublicKey");
  if (key == info->end()) {
    return InvalidParamError("onboardingInformation.apiInvokerPublicKey", "is required");
  }
  if (!key->is_string() || key->get_ref<const std::string&>().empty()) {
    return InvalidParamError("onboardingInformation.apiInvokerPublicKey",
                             "must be a non-empty string");
  }
  r->public_key_pem = key->get<std::string>();

  auto dest = body.find("notificationDestination");
  if (dest == body.end()) return InvalidParamError("notificationDestination", "is required");
  if (!dest->is_string() || !(absl::StartsWith(dest->get_ref<const std::string&>(), "https://") ||
                              absl::StartsWith(dest->get_ref<const std::string&>(), "http://"))) {
    return InvalidParamError("notificationDestination", "must be an http(s) URI");
  }
  r->notification_destination = dest->get<std::string>();

  RETURN_IF_ERROR(OptionalMember(body, "requestTestNotification", "", &r->request_test_notification));
  RETURN_IF_ERROR(OptionalMember(body, "apiInvokerInformation", "", &r->api_invoker_information));
  RETURN_IF_ERROR(OptionalMember(body, "supportedFeatures", "", &r->supported_features));
  r->websocket_uri.reset();
  r->request_websocket_uri.reset();
  if (auto w = body.find("websockNotifConfig"); w != body.end()) {
    if (!w->is_object()) return InvalidParamError("websockNotifConfig", "must be an object");
    RETURN_IF_ERROR(OptionalMember(*w, "websocketUri", "websockNotifConfig.", &r->websocket_uri));
    RETURN_IF_ERROR(OptionalMember(*w, "requestWebsocketUri", "websockNotifConfig.",
                                   &r->request_websocket_uri));
  }
  r->api_list.reset();
  if (auto l = body.find("apiList"); l != body.end()) {
    if (!l->is_object()) return InvalidParamError("apiList", "must be an object");
    r->api_list = l->dump();
  }
  if (r->supported_features) {
    for (char c : *r->supported_features) {
      if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) {
        return InvalidParamError("supportedFeatures", "must be a hexadecimal string");
      }
    }
  }
  return absl::OkStatus();
}

json EnrolmentJson(const InvokerRecord& r) {
  json out = {{"apiInvokerId", r.id.value()},
              {"onboardingInformation",
               {{"apiInvokerPublicKey", r.public_key_pem},
                {"apiInvokerCertificate", r.certificate_pem}}},
              {"notificationDestination", r.notification_destination}};
  if (r.request_test_notification) out["requestTestNotification"] = *r.request_test_notification;
  if (r.websocket_uri || r.request_websocket_uri) {
    json w = json::object();
    if (r.websocket_uri) w["websocketUri"] = *r.websocket_uri;
    if (r.request_websocket_uri) w["requestWebsocketUri"] = *r.request_websocket_uri;
    out["websockNotifConfig"] = std::move(w);
  }
  if (r.api_list) {
    json list = json::parse(*r.api_list, nullptr, false);
    if (list.is_object()) out["apiList"] = std::move(list);
  }
  if (r.api_invoker_information) out["apiInvokerInformation"] = *r.api_invoker_information;
  if (r.supported_features) out["supportedFeatures"] = *r.supported_features;
  return out;
}

namespace {

// The caller must be the invoker named in the path.
absl::StatusOr<ApiInvokerId> RequireSelf(const RestRequest& req, const CertificateAuthority& ca) {
  if (req.path_params.empty()) return RestError(404, "no invoker in the path");
  ApiInvokerId id(req.path_params[0]);
  if (!req.caller) {
    return RestError(401, "a client certificate of the invoker is required", "UNAUTHENTICATED");
  }
  if (req.caller->kind() != SpiffeId::Kind::kInvoker ||
      req.caller->trust_domain() != ca.trust_domain() || req.caller->id() != id.value()) {
    LogWarning("security", absl::StrCat(req.caller->ToString(), " tried to act on invoker ",
                                        absl::CEscape(id.value().substr(0, 64))));
    return RestError(403, "a caller may act only on its own onboarding resource",
                     "OPERATION_NOT_ALLOWED");
  }
  return id;
}

}  // namespace

std::string EnrollmentTokenDigest(absl::string_view token) { return Sha256(token); }

std::string OnboardingSecretDigest(absl::string_view salt, const SecretBytes& secret) {
  absl::string_view s = secret.Reveal(InsecureSecretAccess());
  unsigned char out[32];
  size_t len = 0;
  EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, salt.data(), salt.size(),
            reinterpret_cast<const unsigned char*>(s.data()), s.size(), out, sizeof(out), &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

absl::StatusOr<std::string> IssueEnrollmentToken(EnrollmentTokenStore& store,
                                                 EnrollmentPurpose purpose, absl::Time now,
                                                 absl::Duration ttl) {
  SecretBytes raw = SecretBytes::Random(32);
  std::string token = Base64UrlEncode(raw.Reveal(InsecureSecretAccess()));
  RETURN_IF_ERROR(store.Add(EnrollmentTokenDigest(token), purpose, now + ttl));
  return token;
}

void InvokerManagementApi::RegisterRoutes(RestRouter& server) {
  const std::string base = std::string(kInvokerManagementRoot) + "/onboardedInvokers";
  server.Route("POST", base, [this](const RestRequest& r) { return Onboard(r); });
  server.Route("PUT", base + "/([^/]+)", [this](const RestRequest& r) { return Update(r); });
  server.Route("DELETE", base + "/([^/]+)", [this](const RestRequest& r) { return Offboard(r); });
  server.Route("PATCH", base + "/([^/]+)", [this](const RestRequest& r) { return Patch(r); });
}

absl::StatusOr<RestResponse> InvokerManagementApi::Onboard(const RestRequest& req) {
  // Validate everything before consuming the one-time token, so a malformed request can be
  // corrected and resent with the same token.
  std::string auth = req.Header("authorization");
  if (!absl::StartsWithIgnoreCase(auth, "Bearer ") || auth.size() <= 7) {
    return RestError(401, "onboarding needs \"Authorization: Bearer <enrollment token>\"",
                     "UNAUTHENTICATED");
  }
  ASSIGN_OR_RETURN(json body, ParseJsonBody(req));
  if (body.contains("apiInvokerId")) {
    return InvalidParamError("apiInvokerId", "is assigned by the CCF and must not be sent");
  }
  InvokerRecord record;
  RETURN_IF_ERROR(ValidateEnrolment(body, &record));
  // Checked before the token is spent; CertifyPublicKey checks it again when issuing.
  auto key = PublicKeyFromCsrOrKeyPem(record.public_key_pem);
  if (!key.ok()) return InvalidParamError(kKeyParam, key.status().message());
  if (absl::Status usable = key->CheckCertifiable(); !usable.ok()) {
    return InvalidParamError(kKeyParam, usable.message());
  }
  absl::Status token =
      config_.enrollment_tokens->Consume(EnrollmentTokenDigest(auth.substr(7)),
                                         EnrollmentPurpose::kInvoker, config_.clock->Now());
  if (!token.ok()) {
    LogWarning("security", absl::StrCat("onboarding refused: ", token.message()));
    return RestError(401, "the enrollment token is unknown, used or expired", "UNAUTHENTICATED");
  }

  std::string id = NewResourceId("inv");
  ASSIGN_OR_RETURN(std::string cert_pem,
                   CertifyPublicKey(*config_.ca, SpiffeId::Kind::kInvoker, id,
                                    record.public_key_pem, kKeyParam, *config_.clock,
                                    config_.certificate_validity));
  SecretBytes secret(Base64UrlEncode(SecretBytes::Random(32).Reveal(InsecureSecretAccess())));
  record.id = ApiInvokerId(id);
  record.certificate_pem = cert_pem;
  record.secret_salt = std::string(SecretBytes::Random(16).Reveal(InsecureSecretAccess()));
  record.secret_digest = OnboardingSecretDigest(record.secret_salt, secret);
  record.created = config_.clock->Now();
  RETURN_IF_ERROR(config_.invokers->Insert(record));
  LogInfo("invokers", absl::StrCat("onboarded invoker ", id));

  json response = EnrolmentJson(record);
  response["onboardingInformation"]["onboardingSecret"] =
      std::string(secret.Reveal(InsecureSecretAccess()));
  RestResponse out = RestResponse::Json(201, response);
  out.headers.emplace_back(
      "Location", absl::StrCat(config_.api_root, kInvokerManagementRoot, "/onboardedInvokers/", id));
  return out;
}

absl::StatusOr<RestResponse> InvokerManagementApi::Update(const RestRequest& req) {
  ASSIGN_OR_RETURN(ApiInvokerId id, RequireSelf(req, *config_.ca));
  ASSIGN_OR_RETURN(json body, ParseJsonBody(req));
  return Replace(id, body);
}

absl::StatusOr<RestResponse> InvokerManagementApi::Patch(const RestRequest& req) {
  ASSIGN_OR_RETURN(ApiInvokerId id, RequireSelf(req, *config_.ca));
  // APIInvokerEnrolmentDetailsPatch, merged (RFC 7396) into the resource, then the PUT path.
  ASSIGN_OR_RETURN(json patch,
                   ParseMergePatchBody(req, {"onboardingInformation", "notificationDestination",
                                             "apiList", "apiInvokerInformation"}));
  if (auto info = patch.find("onboardingInformation"); info != patch.end() && info->is_object()) {
    for (const auto& [key, value] : info->items()) {
      if (key != "apiInvokerPublicKey") {
        return InvalidParamError(absl::StrCat("onboardingInformation.", key),
                                 "cannot be changed by PATCH (only apiInvokerPublicKey)");
      }
    }
  }
  ASSIGN_OR_RETURN(std::optional<InvokerRecord> record, config_.invokers->Get(id));
  if (!record) return RestError(404, "no such onboarded invoker", "RESOURCE_NOT_FOUND");
  json merged = EnrolmentJson(*record);
  merged.merge_patch(patch);
  return Replace(id, merged);
}

absl::StatusOr<RestResponse> InvokerManagementApi::Replace(const ApiInvokerId& id,
                                                           const json& body) {
  if (body.contains("apiInvokerId") &&
      (!body["apiInvokerId"].is_string() || body["apiInvokerId"] != id.value())) {
    return InvalidParamError("apiInvokerId", "must equal the onboardingId of the resource");
  }
  ASSIGN_OR_RETURN(std::optional<InvokerRecord> record, config_.invokers->Get(id));
  if (!record) return RestError(404, "no such onboarded invoker", "RESOURCE_NOT_FOUND");
  std::string old_certificate = record->certificate_pem;
  RETURN_IF_ERROR(ValidateEnrolment(body, &*record));
  if (!CertifiesSameKey(old_certificate, record->public_key_pem)) {
    // A new key: certify it (the old certificate simply expires).
    ASSIGN_OR_RETURN(record->certificate_pem,
                     CertifyPublicKey(*config_.ca, SpiffeId::Kind::kInvoker, id.value(),
                                      record->public_key_pem, kKeyParam, *config_.clock,
                                      config_.certificate_validity));
  }
  RETURN_IF_ERROR(config_.invokers->Update(*record));
  return RestResponse::Json(200, EnrolmentJson(*record));
}

absl::StatusOr<RestResponse> InvokerManagementApi::Offboard(const RestRequest& req) {
  ASSIGN_OR_RETURN(ApiInvokerId id, RequireSelf(req, *config_.ca));
  std::vector<OutboundNotice> notices;
  absl::Status s;
  // The notices name what the security context held when read; the deletion happens only if it
  // still holds that (else read again), so no peer or AEF is left out.
  for (int attempt = 0; attempt < 3; ++attempt) {
    notices.clear();
    int64_t version = 0;
    if (config_.contexts != nullptr) {
      ASSIGN_OR_RETURN(std::optional<StoredSecurityContext> ctx,
                       config_.contexts->Get(id.value()));
      if (ctx) {
        version = ctx->version;
        notices = PeerNoticesFor(id.value(), ctx->entries, /*offboarding=*/true, "",
                                 config_.clock->Now());
        for (OutboundNotice& n : AefNoticesFor(id.value(), ctx->entries, config_.clock->Now())) {
          notices.push_back(std::move(n));
        }
        for (OutboundNotice& n :
             AclChangeNotices(id.value(), ctx->entries, {}, config_.clock->Now())) {
          notices.push_back(std::move(n));
        }
      }
    }
    s = config_.invokers->Delete(id, notices, version);
    if (!absl::IsAborted(s)) break;
  }
  if (absl::IsAborted(s)) {
    return RestError(409, "the invoker's security context changed meanwhile; retry",
                     "RESOURCE_CONFLICT");
  }
  if (absl::IsNotFound(s)) return RestError(404, "no such onboarded invoker", "RESOURCE_NOT_FOUND");
  RETURN_IF_ERROR(s);
  LogInfo("invokers", absl::StrCat("offboarded ", req.caller->ToString(),
                                   notices.empty() ? "" : absl::StrCat("; notifying ",
                                                                       notices.size(), " peer(s)")));
  if (!notices.empty() && config_.notices_enqueued) config_.notices_enqueued();
  return RestResponse::NoContent();
}

}  // namespace capif

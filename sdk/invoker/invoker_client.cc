#include "sdk/invoker/invoker_client.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/escaping.h"
#include "absl/time/clock.h"
#include "common/jws.h"
#include "common/status_macros.h"
#include "common/strict_json.h"
#include "common/x509_cert.h"
#include "net/http_input.h"

namespace capif {
namespace {

using nlohmann::json;

absl::StatusCode CodeOf(long http) {
  switch (http) {
    case 400: case 411: case 413: case 415: return absl::StatusCode::kInvalidArgument;
    case 401: return absl::StatusCode::kUnauthenticated;
    case 403: return absl::StatusCode::kPermissionDenied;
    case 404: return absl::StatusCode::kNotFound;
    case 409: return absl::StatusCode::kAlreadyExists;
    case 501: return absl::StatusCode::kUnimplemented;
    case 503: return absl::StatusCode::kUnavailable;
    default: return absl::StatusCode::kInternal;
  }
}


absl::StatusOr<json> JsonOf(const HttpsResponse& r) {
  auto body = ParseStrictJson(r.body);
  if (!body.ok()) return absl::InternalError(absl::StrCat("the CCF answered malformed JSON: ", body.status().message()));
  return body;
}

}  // namespace

absl::Status StatusFromHttp(const HttpsResponse& r) {
  if (r.status >= 200 && r.status < 300) return absl::OkStatus();
  std::string detail = absl::StrCat("HTTP ", r.status);
  json body = json::parse(r.body, nullptr, false);
  if (body.is_object()) {
    if (body.contains("detail")) detail = absl::StrCat(detail, ": ", body["detail"].dump());
    if (body.contains("error")) detail = absl::StrCat(detail, ": ", body["error"].dump());
  }
  return absl::Status(CodeOf(r.status), detail);
}

absl::StatusOr<std::unique_ptr<HttpsClient>> CapifInvoker::Client(bool with_certificate) const {
  HttpsClient::Options o;
  o.ca_pem = ca_pem_;
  o.max_tls_version = max_tls_;
  if (with_certificate) {
    o.client_cert_pem = certificate_pem_;
    ASSIGN_OR_RETURN(o.client_key_pem, key_.PrivateKeyPem());
  }
  return HttpsClient::Create(std::move(o));
}

absl::StatusOr<std::unique_ptr<CapifInvoker>> CapifInvoker::Onboard(
    const std::string& api_root, const std::string& ca_pem, const std::string& enrollment_token,
    const std::string& notification_destination, int max_tls_version) {
  ASSIGN_OR_RETURN(EvpKey key, EvpKey::GenerateEcP256());
  std::unique_ptr<CapifInvoker> inv(new CapifInvoker(api_root, ca_pem, std::move(key), max_tls_version));
  ASSIGN_OR_RETURN(std::string csr, CreateCsrPem(inv->key_));
  json body = {{"onboardingInformation", {{"apiInvokerPublicKey", csr}}},
               {"notificationDestination", notification_destination}};
  ASSIGN_OR_RETURN(auto client, inv->Client(false));
  ASSIGN_OR_RETURN(HttpsResponse r,
                   client->Request("POST", api_root + "/api-invoker-management/v1/onboardedInvokers",
                                   body.dump(), "application/json",
                                   {"Authorization: Bearer " + enrollment_token}));
  RETURN_IF_ERROR(StatusFromHttp(r));
  ASSIGN_OR_RETURN(json out, JsonOf(r));
  inv->id_ = out.value("apiInvokerId", "");
  inv->certificate_pem_ = out["onboardingInformation"].value("apiInvokerCertificate", "");
  inv->secret_ = SecretBytes(out["onboardingInformation"].value("onboardingSecret", ""));
  inv->notification_destination_ = notification_destination;
  if (inv->id_.empty() || inv->certificate_pem_.empty() || inv->secret_.empty()) {
    return absl::InternalError("the onboarding answer lacks apiInvokerId, certificate or secret");
  }
  return inv;
}

absl::StatusOr<json> CapifInvoker::Discover(const std::map<std::string, std::string>& filters) {
  std::string url = absl::StrCat(api_root_, "/service-apis/v1/allServiceAPIs?api-invoker-id=",
                                 PercentEncode(id_));
  for (const auto& [k, v] : filters) absl::StrAppend(&url, "&", PercentEncode(k), "=", PercentEncode(v));
  ASSIGN_OR_RETURN(auto client, Client(true));
  ASSIGN_OR_RETURN(HttpsResponse r, client->Request("GET", url));
  RETURN_IF_ERROR(StatusFromHttp(r));
  ASSIGN_OR_RETURN(json out, JsonOf(r));
  return out.value("serviceAPIDescriptions", json::array());
}

absl::StatusOr<SecurityContext> CapifInvoker::RequestSecurityMethods(
    const json& service_apis, const std::vector<std::string>& preferred) {
  return SendSecurityMethods(service_apis, preferred, /*update=*/false);
}

absl::StatusOr<SecurityContext> CapifInvoker::UpdateSecurityMethods(
    const json& service_apis, const std::vector<std::string>& preferred) {
  return SendSecurityMethods(service_apis, preferred, /*update=*/true);
}

absl::StatusOr<SecurityContext> CapifInvoker::SendSecurityMethods(
    const json& service_apis, const std::vector<std::string>& preferred, bool update) {
  json infos = json::array();
  std::map<std::string, json> profiles;  // aefId -> profile, to compute P0 like the CCF
  for (const json& api : service_apis) {
    for (const json& p : api.value("aefProfiles", json::array())) {
      infos.push_back({{"aefId", p["aefId"]}, {"apiId", api.value("apiId", "")},
                       {"prefSecurityMethods", preferred}});
      profiles.emplace(p["aefId"].get<std::string>(), p);
    }
  }
  json body = {{"notificationDestination", notification_destination_}, {"securityInfo", infos}};
  if (update) body.erase("notificationDestination");
  ASSIGN_OR_RETURN(auto client, Client(true));
  std::string url = absl::StrCat(api_root_, "/capif-security/v1/trustedInvokers/", id_);
  ASSIGN_OR_RETURN(HttpsResponse r,
                   client->Request(update ? "POST" : "PUT", update ? url + "/update" : url,
                                   body.dump(), "application/json", {}, /*capture_tls_keys=*/true));
  RETURN_IF_ERROR(StatusFromHttp(r));
  SecurityContext ctx;
  ASSIGN_OR_RETURN(ctx.service_security, JsonOf(r));
  for (const json& e : ctx.service_security.value("securityInfo", json::array())) {
    if (e.value("selSecurityMethod", "") != "PSK") continue;
    if (!r.tls) return absl::InternalError("no TLS key material captured for PSK");
    std::string aef = e.value("aefId", "");
    ASSIGN_OR_RETURN(SecretBytes psk,
                     DeriveAefPsk(r.tls->key, AefInterfaceInfoOfProfile(profiles[aef], nullptr),
                                  r.tls->session_id));
    ctx.aef_psks[aef] = std::move(psk);
  }
  return ctx;
}

absl::StatusOr<std::string> CapifInvoker::ClientAssertion(const std::string& audience) const {
  ASSIGN_OR_RETURN(SecretBytes pem, key_.PrivateKeyPem());
  ASSIGN_OR_RETURN(EvpKey key, EvpKey::FromPrivateKeyPem(pem));
  ASSIGN_OR_RETURN(JwsSigner signer, JwsSigner::Create(std::move(key), id_));
  int64_t now = absl::ToUnixSeconds(absl::Now());
  SecretBytes jti = SecretBytes::Random(16);
  return signer.Sign("JWT", {{"iss", id_}, {"sub", id_}, {"aud", audience}, {"iat", now},
                             {"exp", now + 120},
                             {"jti", absl::BytesToHexString(jti.Reveal(InsecureSecretAccess()))}});
}

absl::StatusOr<AccessToken> CapifInvoker::RequestToken(const std::string& scope,
                                                       const std::string& assertion_audience) {
  std::string assertion;
  if (!assertion_audience.empty()) {
    ASSIGN_OR_RETURN(assertion, ClientAssertion(assertion_audience));
  }
  return RequestTokenWithAssertion(scope, assertion);
}

namespace {

std::string TokenForm(const std::string& id, const SecretBytes& secret, const std::string& scope,
                      const std::string& assertion) {
  std::string form = absl::StrCat(
      "grant_type=client_credentials&client_id=", PercentEncode(id), "&client_secret=",
      PercentEncode(std::string(secret.Reveal(InsecureSecretAccess()))), "&scope=", PercentEncode(scope));
  if (!assertion.empty()) {
    absl::StrAppend(&form, "&client_assertion_type=",
                    PercentEncode("urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                    "&client_assertion=", PercentEncode(assertion));
  }
  return form;
}

}  // namespace

std::string CapifInvoker::TokenUrl() const {
  return absl::StrCat(api_root_, "/capif-security/v1/securities/", id_, "/token");
}

absl::StatusOr<std::string> CapifInvoker::TokenRequestForm(
    const std::string& scope, const std::string& assertion_audience) const {
  std::string assertion;
  if (!assertion_audience.empty()) {
    ASSIGN_OR_RETURN(assertion, ClientAssertion(assertion_audience));
  }
  return TokenForm(id_, secret_, scope, assertion);
}

absl::StatusOr<AccessToken> CapifInvoker::RequestTokenWithAssertion(const std::string& scope,
                                                                    const std::string& assertion) {
  std::string form = TokenForm(id_, secret_, scope, assertion);
  ASSIGN_OR_RETURN(auto client, Client(true));
  ASSIGN_OR_RETURN(HttpsResponse r,
                   client->Request("POST", TokenUrl(), form, "application/x-www-form-urlencoded"));
  RETURN_IF_ERROR(StatusFromHttp(r));
  ASSIGN_OR_RETURN(json out, JsonOf(r));
  return AccessToken{out.value("access_token", ""), out.value("expires_in", int64_t{0}),
                     out.value("scope", "")};
}

absl::Status CapifInvoker::DeleteSecurityContext() {
  ASSIGN_OR_RETURN(auto client, Client(true));
  ASSIGN_OR_RETURN(HttpsResponse r,
                   client->Request("DELETE", absl::StrCat(api_root_,
                                                          "/capif-security/v1/trustedInvokers/", id_)));
  return StatusFromHttp(r);
}

absl::Status CapifInvoker::Offboard() {
  ASSIGN_OR_RETURN(auto client, Client(true));
  ASSIGN_OR_RETURN(HttpsResponse r,
                   client->Request("DELETE", absl::StrCat(api_root_, "/api-invoker-management/v1/onboardedInvokers/", id_)));
  return StatusFromHttp(r);
}

}  // namespace capif

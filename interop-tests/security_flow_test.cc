// One CCF, every party over real HTTPS: an API provider registers its AMF/APF/AEFs, the APF
// publishes three APIs (one AEF each for PSK, PKI, OAUTH), an invoker onboards with the SDK,
// discovers, requests security methods, and each AEF obtains what it needs to authenticate the
// invoker: the same AEFPSK, the invoker's root CA, or a token verifiable with the JWKS.
#include <openssl/ssl.h>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/evp_key.h"
#include "common/jws.h"
#include "common/x509_cert.h"
#include "interop-tests/ccfd_fixture.h"
#include "interop-tests/schema_check.h"
#include "net/https_client.h"
#include "sdk/invoker/invoker_client.h"

namespace capif {
namespace {

using nlohmann::json;

constexpr char kInvokerMgmt[] = "TS29222_CAPIF_API_Invoker_Management_API.yaml#/components/schemas/";
constexpr char kProviderMgmt[] = "TS29222_CAPIF_API_Provider_Management_API.yaml#/components/schemas/";
constexpr char kPublish[] = "TS29222_CAPIF_Publish_Service_API.yaml#/components/schemas/";
constexpr char kDiscover[] = "TS29222_CAPIF_Discover_Service_API.yaml#/components/schemas/";
constexpr char kSecurity[] = "TS29222_CAPIF_Security_API.yaml#/components/schemas/";
constexpr char kProblem[] = "TS29122_CommonData.yaml#/components/schemas/ProblemDetails";

// Every response below is checked against the official schema of its resource.
#define EXPECT_SPEC(doc, ref)                     \
  do {                                            \
    absl::Status spec_ = MatchesSpec(doc, ref);   \
    EXPECT_TRUE(spec_.ok()) << spec_.message();   \
  } while (false)

struct Party {
  std::string id;
  std::string cert_pem;
};

class SecurityFlowTest : public ::testing::TestWithParam<int> {
 protected:
  SecurityFlowTest()
      : ccf_(absl::StrCat("flow-", GetParam() == TLS1_2_VERSION ? "tls12" : "tls13")) {}

  std::unique_ptr<HttpsClient> As(const Party* p) {
    HttpsClient::Options o;
    o.ca_pem = ccf_.ca_pem();
    o.max_tls_version = GetParam();
    if (p != nullptr) {
      o.client_cert_pem = p->cert_pem;
      o.client_key_pem = *key_.PrivateKeyPem();
    }
    return *HttpsClient::Create(std::move(o));
  }

  // Registers AMF, APF and three AEFs; returns them by role ("AEF" three times, in order).
  std::vector<std::pair<std::string, Party>> RegisterProvider() {
    std::string csr = *CreateCsrPem(key_);
    json body = {{"regSec", ccf_.EnrollmentToken("provider")}, {"apiProvFuncs", json::array()}};
    for (const char* role : {"AMF", "APF", "AEF", "AEF", "AEF"}) {
      body["apiProvFuncs"].push_back({{"apiProvFuncRole", role}, {"regInfo", {{"apiProvPubKey", csr}}}});
    }
    auto r = As(nullptr)->Request("POST", ccf_.api_root() + "/api-provider-management/v1/registrations",
                                  body.dump(), "application/json");
    EXPECT_TRUE(r.ok() && r->status == 201) << (r.ok() ? r->body : r.status().ToString());
    std::vector<std::pair<std::string, Party>> out;
    if (!r.ok()) return out;
    json reg = json::parse(r->body);  // a named value: the loop must not outlive it
    domain_id_ = reg["apiProvDomId"];
    EXPECT_SPEC(reg, std::string(kProviderMgmt) + "APIProviderEnrolmentDetails");
    for (const json& f : reg["apiProvFuncs"]) {
      out.push_back({f["apiProvFuncRole"], {f["apiProvFuncId"], f["regInfo"]["apiProvCert"]}});
    }
    return out;
  }

  json Api(const std::string& name, const std::string& aef_id, const std::string& method) {
    return {{"apiName", name},
            {"aefProfiles",
             {{{"aefId", aef_id},
               {"versions", {{{"apiVersion", "v1"}}}},
               {"securityMethods", {method}},
               {"interfaceDescriptions",
                {{{"fqdn", "aef.operator-a.example"}, {"port", 8443}, {"apiPrefix", "/" + name}}}}}}}};
  }

  CcfdProcess ccf_;
  EvpKey key_ = *EvpKey::GenerateEcP256();  // the provider's functions share one key here
  std::string domain_id_;                   // the registration RegisterProvider made
};

TEST_P(SecurityFlowTest, PskPkiAndOauthEndToEnd) {
  auto funcs = RegisterProvider();
  ASSERT_EQ(funcs.size(), 5u);
  Party apf = funcs[1].second, aef_psk = funcs[2].second, aef_pki = funcs[3].second,
        aef_oauth = funcs[4].second;
  std::string publish = ccf_.api_root() + "/published-apis/v1/" + apf.id + "/service-apis";
  for (auto [name, aef, method] : {std::make_tuple("psk-api", aef_psk.id, "PSK"),
                                   std::make_tuple("pki-api", aef_pki.id, "PKI"),
                                   std::make_tuple("oauth-api", aef_oauth.id, "OAUTH")}) {
    auto r = As(&apf)->Request("POST", publish, Api(name, aef, method).dump(), "application/json");
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->status, 201) << r->body;
    EXPECT_SPEC(json::parse(r->body), std::string(kPublish) + "ServiceAPIDescription");
  }
  auto published = As(&apf)->Request("GET", publish);
  ASSERT_TRUE(published.ok());
  ASSERT_EQ(published->status, 200);
  // PATCH (JSON Merge Patch) of a published API and of the registration; the answers are the
  // full resources.
  {
    std::string api_id = json::parse(published->body)[0]["apiId"];
    auto r = As(&apf)->Request("PATCH", publish + "/" + api_id, R"({"description": "patched"})",
                               "application/merge-patch+json");
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(json::parse(r->body)["description"], "patched");
    EXPECT_SPEC(json::parse(r->body), std::string(kPublish) + "ServiceAPIDescription");
    Party amf = funcs[0].second;
    auto patched = As(&amf)->Request(
        "PATCH", ccf_.api_root() + "/api-provider-management/v1/registrations/" + domain_id_,
        R"({"apiProvDomInfo": "operator A"})", "application/merge-patch+json");
    ASSERT_TRUE(patched.ok());
    ASSERT_EQ(patched->status, 200) << patched->body;
    json body = json::parse(patched->body);
    EXPECT_EQ(body["apiProvDomInfo"], "operator A");
    EXPECT_EQ(body["apiProvFuncs"].size(), 5u);
    EXPECT_SPEC(body, std::string(kProviderMgmt) + "APIProviderEnrolmentDetails");
    published = As(&apf)->Request("GET", publish);  // what must survive the restart below
    ASSERT_TRUE(published.ok());
  }

  // The raw onboarding answer, as a standard invoker sees it.
  {
    EvpKey k = *EvpKey::GenerateEcP256();
    json enrol = {{"onboardingInformation", {{"apiInvokerPublicKey", *CreateCsrPem(k)}}},
                  {"notificationDestination", "https://other.example/cb"}};
    auto r = As(nullptr)->Request(
        "POST", ccf_.api_root() + "/api-invoker-management/v1/onboardedInvokers", enrol.dump(),
        "application/json", {"Authorization: Bearer " + ccf_.EnrollmentToken("invoker")});
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->status, 201) << r->body;
    EXPECT_SPEC(json::parse(r->body), std::string(kInvokerMgmt) + "APIInvokerEnrolmentDetails");
  }

  auto invoker = CapifInvoker::Onboard(ccf_.api_root(), ccf_.ca_pem(),
                                       ccf_.EnrollmentToken("invoker"),
                                       "https://invoker.example/cb", GetParam());
  ASSERT_TRUE(invoker.ok()) << invoker.status();
  auto apis = (*invoker)->Discover();
  ASSERT_TRUE(apis.ok()) << apis.status();
  ASSERT_EQ(apis->size(), 3u);
  EXPECT_SPEC(json({{"serviceAPIDescriptions", *apis}}), std::string(kDiscover) + "DiscoveredAPIs");
  auto ctx = (*invoker)->RequestSecurityMethods(*apis, {"PSK", "PKI", "OAUTH"});
  ASSERT_TRUE(ctx.ok()) << ctx.status();
  ASSERT_EQ(ctx->aef_psks.count(aef_psk.id), 1u);
  EXPECT_SPEC(ctx->service_security, std::string(kSecurity) + "ServiceSecurity");
  std::string id = (*invoker)->api_invoker_id();

  // PSK: the AEF's AEFPSK from the CCF equals the invoker's own derivation.
  std::string trusted = ccf_.api_root() + "/capif-security/v1/trustedInvokers/" + id +
                        "?authenticationInfo=true&authorizationInfo=true";
  auto psk_info = As(&aef_psk)->Request("GET", trusted);
  ASSERT_TRUE(psk_info.ok());
  ASSERT_EQ(psk_info->status, 200) << psk_info->body;
  EXPECT_SPEC(json::parse(psk_info->body), std::string(kSecurity) + "ServiceSecurity");
  json psk_entry = json::parse(psk_info->body)["securityInfo"][0];
  EXPECT_EQ(psk_entry["selSecurityMethod"], "PSK");
  EXPECT_EQ(psk_entry["authenticationInfo"],
            absl::BytesToHexString(ctx->aef_psks[aef_psk.id].Reveal(InsecureSecretAccess())));
  // The AEF may keep the key for the AEFPSK's remaining validity (24 h by default), no longer.
  std::string cache = psk_info->headers["cache-control"];
  ASSERT_TRUE(absl::StartsWith(cache, "private, max-age=")) << cache;
  int64_t max_age = std::stoll(cache.substr(17));
  EXPECT_GT(max_age, 86400 - 120);
  EXPECT_LE(max_age, 86400);

  // PKI: the AEF gets the root CA that verifies the invoker's certificate.
  auto pki_info = As(&aef_pki)->Request("GET", trusted);
  ASSERT_TRUE(pki_info.ok());
  ASSERT_EQ(pki_info->status, 200) << pki_info->body;
  std::string root = json::parse(pki_info->body)["securityInfo"][0]["authenticationInfo"];
  EXPECT_TRUE(TrustBundle::FromPem(root)
                  ->Verify({*X509Cert::FromPem((*invoker)->certificate_pem())}, absl::Now())
                  .ok());

  // OAUTH: a token the AEF verifies with the CCF's JWKS.
  auto token = (*invoker)->RequestToken("3gpp#" + aef_oauth.id + ":oauth-api");
  ASSERT_TRUE(token.ok()) << token.status();
  auto jwks_res = As(nullptr)->Request("GET", ccf_.api_root() + "/.well-known/jwks.json");
  ASSERT_TRUE(jwks_res.ok());
  auto jwks = JwkSet::FromJson(jwks_res->body);
  ASSERT_TRUE(jwks.ok()) << jwks.status();
  JwtValidator validator({"at+jwt", "ccf-a", aef_oauth.id, true, absl::Seconds(30)}, Clock::Real());
  auto jwt = validator.Verify(token->token, *jwks);
  ASSERT_TRUE(jwt.ok()) << jwt.status();
  EXPECT_EQ(jwt->claims["client_id"], id);
  {
    std::string form = "grant_type=client_credentials&client_id=" + id + "&client_secret=" +
                       std::string((*invoker)->onboarding_secret().Reveal(InsecureSecretAccess())) +
                       "&scope=3gpp%23" + aef_oauth.id + "%3Aoauth-api";
    std::string url = ccf_.api_root() + "/capif-security/v1/securities/" + id + "/token";
    auto as_invoker = HttpsClient::Create(
        {ccf_.ca_pem(), (*invoker)->certificate_pem(), *(*invoker)->key().PrivateKeyPem()});
    auto raw = (*as_invoker)->Request("POST", url, form, "application/x-www-form-urlencoded");
    ASSERT_TRUE(raw.ok());
    ASSERT_EQ(raw->status, 200) << raw->body;
    EXPECT_SPEC(json::parse(raw->body), std::string(kSecurity) + "AccessTokenRsp");
    auto bad = (*as_invoker)->Request("POST", url, form + "x", "application/x-www-form-urlencoded");
    auto anonymous = As(nullptr)->Request("POST", url, form, "application/x-www-form-urlencoded");
    ASSERT_TRUE(anonymous.ok());
    EXPECT_EQ(anonymous->status, 401);  // no client certificate
    ASSERT_TRUE(bad.ok());
    EXPECT_EQ(bad->status, 400) << bad->body;  // scope names an API the AEF does not have
    EXPECT_SPEC(json::parse(bad->body), std::string(kSecurity) + "AccessTokenErr");
  }
  // Not for an AEF where OAUTH was not selected.
  EXPECT_EQ((*invoker)->RequestToken("3gpp#" + aef_pki.id + ":pki-api").status().code(),
            absl::StatusCode::kInvalidArgument);

  // Another AEF, or the invoker itself, cannot read the security information.
  auto invoker_reads = HttpsClient::Create(
      {ccf_.ca_pem(), (*invoker)->certificate_pem(), *(*invoker)->key().PrivateKeyPem()});
  auto refused = (*invoker_reads)->Request("GET", trusted);
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->status, 403);
  EXPECT_SPEC(json::parse(refused->body), kProblem);

  // After a SIGKILL, the security context is still there.
  ccf_.KillAndRestart();
  trusted = ccf_.api_root() + "/capif-security/v1/trustedInvokers/" + id + "?authenticationInfo=true";
  auto after = As(&aef_psk)->Request("GET", trusted);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(json::parse(after->body)["securityInfo"][0]["authenticationInfo"],
            psk_entry["authenticationInfo"]);
  publish = ccf_.api_root() + "/published-apis/v1/" + apf.id + "/service-apis";
  auto republished = As(&apf)->Request("GET", publish);
  ASSERT_TRUE(republished.ok());
  EXPECT_EQ(json::parse(republished->body), json::parse(published->body));

  // Offboarding removes everything derived from the invoker.
  CapifInvoker* inv = invoker->get();
  // The invoker's api_root changed with the restart (port 0): talk to the new one.
  auto fresh = HttpsClient::Create(
      {ccf_.ca_pem(), inv->certificate_pem(), *inv->key().PrivateKeyPem()});
  auto off = (*fresh)->Request("DELETE", ccf_.api_root() + "/api-invoker-management/v1/onboardedInvokers/" + id);
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(off->status, 204);
  EXPECT_EQ(As(&aef_psk)->Request("GET", trusted)->status, 404);
}

INSTANTIATE_TEST_SUITE_P(Tls, SecurityFlowTest, ::testing::Values(TLS1_2_VERSION, TLS1_3_VERSION));

}  // namespace
}  // namespace capif

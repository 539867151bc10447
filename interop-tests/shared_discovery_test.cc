// CAPIF interconnection, shareable API discovery (TS 23.222 8.25): an invoker of CCF-B finds,
// with the standard Discover API, the APIs CCF-A shares with B over CAPIF-6e, labelled with
// ccfId = ccf-a, and nothing A does not share.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <map>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/evp_key.h"
#include "common/jws.h"
#include "common/x509_cert.h"
#include "interop-tests/ccfd_fixture.h"
#include "sdk/invoker/capif_https_client.h"
#include "sdk/invoker/invoker_client.h"

namespace capif {
namespace {

using nlohmann::json;

TEST(SharedDiscoveryTest, InvokerOfBDiscoversWhatAShares) {
  // Each configuration names the other's CA and A's bus endpoint is known only once A runs:
  // B first runs without peers (making its PKI), then A starts naming B (A never dials B here),
  // then B restarts on the same PKI and data naming A's real endpoint.
  CcfdProcess b_pki_only("shared-b", "b");
  std::string b_ca = b_pki_only.ca_path();
  auto a_peers = [&](const std::string& b_endpoint) {
    return absl::StrCat(R"([{"ccf_id": "ccf-b", "trust_domain": "operator-b.example",
                    "endpoint": ")", b_endpoint, R"(", "trust_bundle": ")", b_ca, R"(",
                    "relation": "CAPIF-6e", "agreement": {
                      "operations": ["DISCOVER_SHAREABLE_APIS", "REQUEST_SECURITY_METHOD",
                                     "FORWARD_TOKEN_REQUEST"],
                      "shared_apis": ["location-query", "not-shareable", "psk-query"]}}])");
  };
  auto a_first = std::make_unique<CcfdProcess>("shared-a", "a", a_peers("127.0.0.1:1"));
  std::string a_bus = a_first->bus_endpoint();
  ASSERT_EQ(b_pki_only.Stop(), 0);
  CcfdProcess b("shared-b", "b",
                absl::StrCat(R"([{"ccf_id": "ccf-a", "trust_domain": "operator-a.example",
                    "endpoint": ")", a_bus, R"(", "trust_bundle": ")", a_first->ca_path(),
                             R"(", "relation": "CAPIF-6e", "agreement": {
                      "operations": ["LOOKUP_SECURITY_INFO"]}}])"));
  // Now that B's address is known, A restarts on its own bus address naming B's.
  ASSERT_EQ(a_first->Stop(), 0);
  a_first.reset();
  CcfdProcess a("shared-a", "a", a_peers(b.bus_endpoint()), a_bus);

  // A's provider publishes a shareable API and one that is not.
  EvpKey key = *EvpKey::GenerateEcP256();
  std::string csr = *CreateCsrPem(key);
  auto anon = *CapifHttpsClient::Create({a.ca_pem()});
  json reg = {{"regSec", a.EnrollmentToken("provider")}, {"apiProvFuncs", json::array()}};
  for (const char* role : {"AMF", "APF", "AEF"}) {
    reg["apiProvFuncs"].push_back({{"apiProvFuncRole", role}, {"regInfo", {{"apiProvPubKey", csr}}}});
  }
  auto r = anon->Request("POST", a.api_root() + "/api-provider-management/v1/registrations",
                         reg.dump(), "application/json");
  ASSERT_TRUE(r.ok() && r->status == 201) << (r.ok() ? r->body : r.status().ToString());
  json funcs = json::parse(r->body)["apiProvFuncs"];
  std::string apf_id = funcs[1]["apiProvFuncId"], aef_id = funcs[2]["apiProvFuncId"];
  auto apf = *CapifHttpsClient::Create({a.ca_pem(), funcs[1]["regInfo"]["apiProvCert"],
                                        *key.PrivateKeyPem()});
  for (auto [name, shareable, method] : {std::make_tuple("location-query", true, "OAUTH"),
                                         std::make_tuple("not-shareable", false, "OAUTH"),
                                         std::make_tuple("psk-query", true, "PSK")}) {
    json api = {{"apiName", name},
                {"aefProfiles", {{{"aefId", aef_id},
                                  {"versions", {{{"apiVersion", "v1"}}}},
                                  {"securityMethods", {method}},
                                  {"interfaceDescriptions", {{{"ipv4Addr", "127.0.0.1"}, {"port", 9443}}}}}}},
                {"shareableInfo", {{"isShareable", shareable}}}};
    auto p = apf->Request("POST", a.api_root() + "/published-apis/v1/" + apf_id + "/service-apis",
                          api.dump(), "application/json");
    ASSERT_TRUE(p.ok() && p->status == 201) << (p.ok() ? p->body : p.status().ToString());
  }

  // An invoker onboarded at B discovers.
  auto invoker = CapifInvoker::Onboard(b.api_root(), b.ca_pem(), b.EnrollmentToken("invoker"),
                                       "https://invoker.example/cb");
  ASSERT_TRUE(invoker.ok()) << invoker.status();
  auto apis = (*invoker)->Discover({{"api-name", "location-query"}});
  ASSERT_TRUE(apis.ok()) << apis.status();
  ASSERT_EQ(apis->size(), 1u) << apis->dump();
  EXPECT_EQ((*apis)[0]["apiName"], "location-query");
  EXPECT_EQ((*apis)[0]["ccfId"], "ccf-a");
  auto all = (*invoker)->Discover();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 2u);  // location-query and psk-query; never not-shareable

  // Security methods for A's AEF, requested at B (#12): A selects, B answers the invoker with a
  // standard ServiceSecurity and, for PSK, derives the AEFPSK bound to A's AEF interface.
  auto ctx = (*invoker)->RequestSecurityMethods(*all, {"PSK", "OAUTH"});
  ASSERT_TRUE(ctx.ok()) << ctx.status();
  std::map<std::string, std::string> selected;
  for (const json& e : ctx->service_security["securityInfo"]) {
    selected[e["apiId"]] = e["selSecurityMethod"];
  }
  for (const json& api : *all) {
    EXPECT_EQ(selected[api["apiId"]], api["apiName"] == "psk-query" ? "PSK" : "OAUTH");
  }
  EXPECT_EQ(ctx->aef_psks.count(aef_id), 1u);
  EXPECT_TRUE(a.process().WaitForStderr("\"operation\":\"REQUEST_SECURITY_METHOD\"",
                                        absl::Seconds(10)).ok());
  // A's AEF authenticates B's invoker: it asks A (standard GET trustedInvokers), A asks B over
  // CAPIF-6e, and the AEFPSK it gets equals the one the invoker derived itself (#13, #18).
  auto aef = *CapifHttpsClient::Create({a.ca_pem(), funcs[2]["regInfo"]["apiProvCert"],
                                        *key.PrivateKeyPem()});
  std::string id = (*invoker)->api_invoker_id();
  auto info = aef->Request("GET", a.api_root() + "/capif-security/v1/trustedInvokers/" + id +
                                      "?authenticationInfo=true&authorizationInfo=true");
  ASSERT_TRUE(info.ok());
  ASSERT_EQ(info->status, 200) << info->body;
  json entry;
  json info_body = json::parse(info->body);  // named: the loop must not outlive it
  for (const json& e : info_body["securityInfo"]) {
    if (e["selSecurityMethod"] == "PSK") entry = e;
  }
  ASSERT_FALSE(entry.is_null()) << info->body;
  EXPECT_EQ(entry["authenticationInfo"],
            absl::BytesToHexString(ctx->aef_psks[aef_id].Reveal(InsecureSecretAccess())));
  EXPECT_TRUE(b.process().WaitForStderr("\"operation\":\"LOOKUP_SECURITY_INFO\"",
                                        absl::Seconds(10)).ok());
  // An invoker that never asked for this AEF: nothing.
  auto unknown = aef->Request("GET", a.api_root() + "/capif-security/v1/trustedInvokers/inv-nobody");
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->status, 404);

  // Cross-domain token (#15): the invoker asks its home B with its secret and a client assertion
  // for A; B forwards without the secret; A checks and issues; the AEF verifies with A's JWKS.
  std::string scope = "3gpp#" + aef_id + ":location-query";
  auto assertion = (*invoker)->ClientAssertion("ccf-a");
  ASSERT_TRUE(assertion.ok());
  auto token = (*invoker)->RequestTokenWithAssertion(scope, *assertion);
  ASSERT_TRUE(token.ok()) << token.status();
  auto jwks_res = anon->Request("GET", a.api_root() + "/.well-known/jwks.json");
  ASSERT_TRUE(jwks_res.ok());
  JwtValidator validator({"at+jwt", "ccf-a", aef_id, true, absl::Seconds(30)}, Clock::Real());
  auto jwt = validator.Verify(token->token, *JwkSet::FromJson(jwks_res->body));
  ASSERT_TRUE(jwt.ok()) << jwt.status();
  EXPECT_EQ(jwt->claims["client_id"], id);
  // The same assertion again: a replay, refused by A.
  auto replay = (*invoker)->RequestTokenWithAssertion(scope, *assertion);
  EXPECT_FALSE(replay.ok());
  EXPECT_NE(replay.status().message().find("invalid_grant"), absl::string_view::npos) << replay.status();
  // An assertion for another CCF, or none: refused.
  EXPECT_FALSE((*invoker)->RequestToken(scope, "ccf-b").ok());
  EXPECT_FALSE((*invoker)->RequestToken(scope).ok());
  // PSK was selected for psk-query, not OAUTH: no token for it.
  EXPECT_FALSE((*invoker)->RequestToken("3gpp#" + aef_id + ":psk-query", "ccf-a").ok());

  // A method the AEF does not offer is refused by A, and B says so.
  auto refused = (*invoker)->RequestSecurityMethods(*apis, {"PKI"});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << refused.status();
  // Filters apply to shared APIs as to local ones.
  EXPECT_TRUE((*invoker)->Discover({{"api-name", "other"}})->empty());
  // A's own invokers see both of A's APIs (no ccfId needed locally).
  auto at_a = CapifInvoker::Onboard(a.api_root(), a.ca_pem(), a.EnrollmentToken("invoker"),
                                    "https://invoker.example/cb");
  ASSERT_TRUE(at_a.ok());
  EXPECT_EQ((*at_a)->Discover()->size(), 3u);
}

}  // namespace
}  // namespace capif

// CAPIF interconnection, shareable API discovery (TS 23.222 8.25): an invoker of CCF-B finds,
// with the standard Discover API, the APIs CCF-A shares with B over CAPIF-6e, labelled with
// ccfId = ccf-a, and nothing A does not share.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <map>

#include "absl/strings/str_cat.h"
#include "common/evp_key.h"
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
  CcfdProcess a("shared-a", "a",
                absl::StrCat(R"([{"ccf_id": "ccf-b", "trust_domain": "operator-b.example",
                    "endpoint": "127.0.0.1:1", "trust_bundle": ")", b_ca, R"(",
                    "relation": "CAPIF-6e", "agreement": {
                      "operations": ["DISCOVER_SHAREABLE_APIS", "REQUEST_SECURITY_METHOD"],
                      "shared_apis": ["location-query", "not-shareable", "psk-query"]}}])"));
  ASSERT_EQ(b_pki_only.Stop(), 0);
  CcfdProcess b("shared-b", "b",
                absl::StrCat(R"([{"ccf_id": "ccf-a", "trust_domain": "operator-a.example",
                    "endpoint": ")", a.bus_endpoint(), R"(", "trust_bundle": ")", a.ca_path(),
                             R"(", "relation": "CAPIF-6e"}])"));

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

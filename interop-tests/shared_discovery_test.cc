// CAPIF interconnection, shareable API discovery (TS 23.222 8.25): an invoker of CCF-B finds,
// with the standard Discover API, the APIs CCF-A shares with B over CAPIF-6e, labelled with
// ccfId = ccf-a, and nothing A does not share.
#include <gtest/gtest.h>
#include <signal.h>

#include <map>
#include <nlohmann/json.hpp>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "ccf/daemon/ccf_config.h"
#include "ccf/store/remote_grants.h"
#include "ccf/store/sql_stores.h"
#include "common/clock.h"
#include "common/evp_key.h"
#include "common/file_io.h"
#include "common/jws.h"
#include "common/secret_bytes.h"
#include "common/subprocess.h"
#include "common/testing/test_paths.h"
#include "common/x509_cert.h"
#include "federation/ownership_resolver.h"
#include "federation/peer_client.h"
#include "interop-tests/ccfd_fixture.h"
#include "net/https_client.h"
#include "net/https_server.h"
#include "proto/interconnect.grpc.pb.h"
#include "sdk/invoker/invoker_client.h"
#include "sdk/provider/provider_client.h"

namespace capif {
namespace {

using nlohmann::json;
namespace fv1 = capif::federation::v1;

// A's AEF as far as the AEF Security API goes: records the revoke-authorization calls its CCF
// makes (TS 29.222 AEF_Security_API), on the AEF's own certificate.
class FakeAefSecurityApi {
 public:
  FakeAefSecurityApi(const std::string& cert_pem, SecretBytes key_pem,
                     const std::string& ca_pem) {
    auto server = HttpsServer::Create({cert_pem, std::move(key_pem),
                                            *TrustBundle::FromPem(ca_pem)},
                                           {"127.0.0.1", 0});
    if (!server.ok()) std::abort();
    server_ = *std::move(server);
    server_->Route("POST", "/aef-security/v1/revoke-authorization",
                   [this](const RestRequest& req) -> absl::StatusOr<RestResponse> {
                     absl::MutexLock lock(&mu_);
                     calls_.push_back({req.caller ? req.caller->ToString() : "",
                                       json::parse(req.body, nullptr, false)});
                     return RestResponse::Json(200, {{"supportedFeatures", "0"}});
                   });
    if (!server_->Start().ok()) std::abort();
  }
  int port() const { return server_->port(); }
  // The calls so far, once there are at least `n` (empty after `timeout`).
  std::vector<std::pair<std::string, json>> AwaitCalls(size_t n, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    wanted_ = n;
    mu_.AwaitWithTimeout(absl::Condition(this, &FakeAefSecurityApi::Enough), timeout);
    return calls_;
  }

 private:
  std::unique_ptr<HttpsServer> server_;
  mutable absl::Mutex mu_;
  bool Enough() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return calls_.size() >= wanted_; }

  std::vector<std::pair<std::string, json>> calls_ ABSL_GUARDED_BY(mu_);
  size_t wanted_ ABSL_GUARDED_BY(mu_) = 0;
};

// A subscriber's HTTPS endpoint for CAPIF event notifications (TS 29.222 CAPIF_Events_API
// callback), on a certificate of its domain's CA for 127.0.0.1.
class EventSink {
 public:
  EventSink(const std::string& cert_pem, SecretBytes key_pem, const std::string& ca_pem) {
    auto server = HttpsServer::Create({cert_pem, std::move(key_pem), *TrustBundle::FromPem(ca_pem)},
                                      {"127.0.0.1", 0});
    if (!server.ok()) std::abort();
    server_ = *std::move(server);
    server_->Route("POST", "/events",
                   [this](const RestRequest& req) -> absl::StatusOr<RestResponse> {
                     absl::MutexLock lock(&mu_);
                     received_.push_back(json::parse(req.body, nullptr, false));
                     return RestResponse::NoContent();
                   });
    if (!server_->Start().ok()) std::abort();
  }
  std::string url() const { return absl::StrCat("https://127.0.0.1:", server_->port(), "/events"); }
  // The notifications about `api_id` so far, once there are at least `n` (fewer after
  // `timeout`).
  std::vector<json> Await(const std::string& api_id, size_t n, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto about = [&] {
      mu_.AssertHeld();
      std::vector<json> out;
      for (const json& r : received_) {
        if (r.is_object() && r.value("eventDetail", json::object()).value("apiIds", json()) ==
                                 json::array({api_id})) {
          out.push_back(r);
        }
      }
      return out;
    };
    auto enough = [&] { return about().size() >= n; };
    mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
    return about();
  }

 private:
  std::unique_ptr<HttpsServer> server_;
  absl::Mutex mu_;
  std::vector<json> received_ ABSL_GUARDED_BY(mu_);
};

// Two domains over CAPIF-6e: A's provider publishes location-query (OAUTH, shareable),
// not-shareable (OAUTH) and psk-query (PSK, shareable) for its AEF, whose AEF Security API is a
// FakeAefSecurityApi; B onboards invokers.
class TwoDomainsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    a_name_ = "a-" + test;
    // Each configuration names the other's CA and A's bus endpoint is known only once A runs:
    // B first runs without peers (making its PKI), then A starts naming B (A never dials B
    // here), then B restarts on the same PKI and data naming A's real endpoint.
    auto b_pki_only = std::make_unique<CcfdProcess>("b-" + test, "b");
    b_ca_ = b_pki_only->ca_path();
    auto a_first = std::make_unique<CcfdProcess>(a_name_, "a", APeers("127.0.0.1:1"));
    a_bus_ = a_first->bus_endpoint();
    ASSERT_EQ(b_pki_only->Stop(), 0);
    b_pki_only.reset();
    a_ca_ = a_first->ca_path();
    b_ = std::make_unique<CcfdProcess>("b-" + test, "b", BPeers(""));
    // Now that B's address is known, A restarts on its own bus address naming B's.
    ASSERT_EQ(a_first->Stop(), 0);
    a_first.reset();
    StartA();
    CcfdProcess& a = *a_;

    // A's provider publishes a shareable API and one that is not.
    anon_ = *HttpsClient::Create({a.ca_pem()});
    auto provider = RegisterApiProvider(a.api_root(), a.ca_pem(), a.EnrollmentToken("provider"), key_);
    ASSERT_TRUE(provider.ok()) << provider.status();
    provider_ = *provider;
    apf_id_ = provider_.apf_id;
    aef_id_ = provider_.aef_id;
    aef_security_ = std::make_unique<FakeAefSecurityApi>(provider_.aef_certificate_pem,
                                                         *key_.PrivateKeyPem(), a.ca_pem());
    for (auto [name, shareable, method] : {std::make_tuple("location-query", true, "OAUTH"),
                                           std::make_tuple("not-shareable", false, "OAUTH"),
                                           std::make_tuple("psk-query", true, "PSK")}) {
      auto p = PublishServiceApi(a.api_root(), a.ca_pem(), provider_, key_,
                                 SimpleServiceApi(name, aef_id_, {method}, "127.0.0.1",
                                                  aef_security_->port(), shareable));
      ASSERT_TRUE(p.ok()) << p.status();
    }
  }

  std::string APeers(const std::string& b_endpoint) const {
    return absl::StrCat(R"([{"ccf_id": "ccf-b", "trust_domain": "operator-b.example",
                    "endpoint": ")", b_endpoint, R"(", "trust_bundle": ")", b_ca_, R"(",
                    "relation": "CAPIF-6e", "agreement": {
                      "operations": ["DISCOVER_SHAREABLE_APIS", "REQUEST_SECURITY_METHOD",
                                     "FORWARD_TOKEN_REQUEST", "NOTIFY_OFFBOARDING",
                                     "NOTIFY_REVOCATION"],
                      "shared_apis": ["location-query", "not-shareable", "psk-query"])",
                        TokensClause(), "}}]");
  }
  // B's peers: A, and `more` (JSON objects, each with a leading comma).
  std::string BPeers(const std::string& more) const {
    return absl::StrCat(R"([{"ccf_id": "ccf-a", "trust_domain": "operator-a.example",
                    "endpoint": ")",
                        a_bus_, R"(", "trust_bundle": ")", a_ca_,
                        R"(", "relation": "CAPIF-6e", "agreement": {
                      "operations": ["LOOKUP_SECURITY_INFO", "QUERY_INVOKER_OWNERSHIP",
                                     "NOTIFY_SHARED_API_CHANGE", "NOTIFY_REVOCATION"])",
                        TokensClause(), "}}", more, "]");
  }
  std::string TokensClause() const {
    return home_issued_tokens_ ? R"(, "cross_domain_tokens": "issued-by-home-ccf")" : "";
  }
  // A on its data and its bus address (B's configuration points there).
  void StartA() { a_ = std::make_unique<CcfdProcess>(a_name_, "a", APeers(b_->bus_endpoint()), a_bus_); }

  // A's AEF asking A for an invoker's security information (standard GET trustedInvokers).
  absl::StatusOr<HttpsResponse> AefGet(const std::string& invoker_id) {
    auto aef = *HttpsClient::Create({a_->ca_pem(), provider_.aef_certificate_pem,
                                          *key_.PrivateKeyPem()});
    return aef->Request("GET", a_->api_root() + "/capif-security/v1/trustedInvokers/" +
                                   invoker_id + "?authenticationInfo=true&authorizationInfo=true");
  }

  // A's AEF asking A for the access control policy of A's API `api_id` (standard GET).
  absl::StatusOr<HttpsResponse> AclGet(const std::string& api_id, const std::string& invoker_id) {
    auto aef =
        *HttpsClient::Create({a_->ca_pem(), provider_.aef_certificate_pem, *key_.PrivateKeyPem()});
    return aef->Request("GET", a_->api_root() +
                                   "/access-control-policy/v1/accessControlPolicyList/" + api_id +
                                   "?aef-id=" + aef_id_ + "&api-invoker-id=" + invoker_id);
  }

  // RFC 7662 introspection of `token` by A's AEF at A: the "active" member.
  json Introspect(const std::string& token) {
    auto aef = *HttpsClient::Create({a_->ca_pem(), provider_.aef_certificate_pem,
                                          *key_.PrivateKeyPem()});
    auto r = aef->Request("POST", a_->api_root() + "/capif-security/v1/introspect",
                          "token=" + token, "application/x-www-form-urlencoded");
    if (!r.ok() || r->status != 200) return "error";
    return json::parse(r->body)["active"];
  }

  // What A's database holds (read while A runs; the database is in WAL mode).
  size_t GrantsAtA(const std::string& invoker_id) {
    auto db = OpenCcfDatabase(a_->dir() + "/data");
    if (!db.ok()) return 1000;
    return SqlRemoteGrants(*db).OfInvoker(invoker_id)->size();
  }
  size_t ConfirmedGrantsAtA(const std::string& invoker_id) {
    auto db = OpenCcfDatabase(a_->dir() + "/data");
    if (!db.ok()) return 1000;
    size_t n = 0;
    auto grants = SqlRemoteGrants(*db).OfInvoker(invoker_id);  // named: outlives the loop
    if (!grants.ok()) return 1000;
    for (const RemoteGrant& g : *grants) {
      n += g.lease_until.has_value() ? 0 : 1;
    }
    return n;
  }
  bool OffboardedAtA(const std::string& invoker_id) {
    auto db = OpenCcfDatabase(a_->dir() + "/data");
    return db.ok() && *SqlRemoteGrants(*db).IsOffboarded("ccf-b", invoker_id);
  }

  // Both agreements use #24's home-issued tokens instead of method 3 (set before SetUp).
  bool home_issued_tokens_ = false;
  std::string a_name_, a_bus_, a_ca_, b_ca_, apf_id_, aef_id_;
  std::unique_ptr<CcfdProcess> a_, b_;
  EvpKey key_ = *EvpKey::GenerateEcP256();
  RegisteredProvider provider_;
  std::unique_ptr<HttpsClient> anon_;
  std::unique_ptr<FakeAefSecurityApi> aef_security_;
};

TEST_F(TwoDomainsTest, InvokerOfBDiscoversWhatASharesAndUsesItsAef) {
  CcfdProcess& a = *a_;
  CcfdProcess& b = *b_;
  const std::string& aef_id = aef_id_;
  auto& anon = anon_;
  auto& key = key_;
  // A fetched B's trust bundle over the bus, keeps it, and capifctl peers shows it.
  ASSERT_TRUE(a.process().WaitForStderr("trust bundle of ccf-b: sequence 1", absl::Seconds(20)).ok());
  auto peers = RunToCompletion(
      {Runfile("tools/capifctl/capifctl"), "peers", "--config", a.config(), "--json"},
      absl::Seconds(30));
  ASSERT_TRUE(peers.ok() && peers->exit_code == 0) << (peers.ok() ? peers->err : "");
  json held = json::parse(peers->out)["peers"][0]["held_bundle"];
  EXPECT_EQ(held["sequence"], 1) << peers->out;
  EXPECT_EQ(held["refresh_ok"], true);
  auto scraped = RunToCompletion({"/usr/bin/curl", "-sS", a.metrics_url()}, absl::Seconds(30));
  ASSERT_TRUE(scraped.ok() && scraped->exit_code == 0);
  EXPECT_NE(scraped->out.find(R"(capif_peer_bundle_sequence{peer="ccf-b"} 1)"), std::string::npos)
      << scraped->out;
  EXPECT_NE(scraped->out.find(R"(capif_peer_bundle_refresh_ok{peer="ccf-b"} 1)"),
            std::string::npos);

  // An invoker onboarded at B discovers.
  auto invoker = CapifInvoker::Onboard(b.api_root(), b.ca_pem(), b.EnrollmentToken("invoker"),
                                       "https://invoker.example/cb");
  ASSERT_TRUE(invoker.ok()) << invoker.status();
  auto apis = (*invoker)->Discover({{"api-name", "location-query"}});
  ASSERT_TRUE(apis.ok()) << apis.status();
  if (apis->size() != 1u) {
    b.process().WaitForStderr("(pump)", absl::Milliseconds(200)).IgnoreError();
    a.process().WaitForStderr("(pump)", absl::Milliseconds(200)).IgnoreError();
    FAIL() << apis->dump() << "\nB:\n" << b.process().stderr_text() << "\nA:\n" << a.process().stderr_text();
  }
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
  auto aef = *HttpsClient::Create({a.ca_pem(), provider_.aef_certificate_pem,
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
  // An API A does not share with B (outside the agreement's shareable set): no token.
  auto outside = (*invoker)->RequestToken("3gpp#" + aef_id + ":not-shareable", "ccf-a");
  EXPECT_FALSE(outside.ok());
  EXPECT_NE(outside.status().message().find("invalid_scope"), absl::string_view::npos)
      << outside.status();

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

namespace capif {
namespace {

// Solution #17 / KI#2 requirement 3: B notifies A of an offboarding through its durable outbox,
// also when A is down at that moment; once A is back, A and its AEF refuse the invoker within
// one retry interval (fixture: 500 ms, plus the bus reconnect backoff capped at the same).
TEST_F(TwoDomainsTest, OffboardingAtBReachesAAndItsAefEvenWhenAWasDown) {
  auto invoker = CapifInvoker::Onboard(b_->api_root(), b_->ca_pem(), b_->EnrollmentToken("invoker"),
                                       "https://invoker.example/cb");
  ASSERT_TRUE(invoker.ok()) << invoker.status();
  auto all = (*invoker)->Discover();
  if (!all.ok() || all->size() != 2u) {
    b_->process().WaitForStderr("(pump)", absl::Milliseconds(200)).IgnoreError();
    FAIL() << (all.ok() ? all->dump() : all.status().ToString()) << "\n" << b_->process().stderr_text();
  }
  auto ctx = (*invoker)->RequestSecurityMethods(*all, {"PSK", "OAUTH"});  // PSK and OAUTH APIs
  ASSERT_TRUE(ctx.ok()) << ctx.status();
  std::string id = (*invoker)->api_invoker_id();
  auto before = AefGet(id);
  ASSERT_TRUE(before.ok());
  ASSERT_EQ(before->status, 200) << before->body;  // A now caches B's answer
  // The invoker's notificationDestination as B holds it, not A's own API root.
  EXPECT_EQ(json::parse(before->body)["notificationDestination"], "https://invoker.example/cb");
  // A's access control policy for its API lists B's invoker (from the grant B obtained).
  int acl_checked = 0;
  for (const json& api : *all) {
    if (api["apiName"] != "location-query") continue;
    ++acl_checked;
    auto acl = AclGet(api["apiId"], id);
    ASSERT_TRUE(acl.ok());
    ASSERT_EQ(acl->status, 200) << acl->body;
    json policies = json::parse(acl->body)["apiInvokerPolicies"];
    ASSERT_EQ(policies.size(), 1u) << acl->body;
    EXPECT_EQ(policies[0]["apiInvokerId"], id);
  }
  EXPECT_EQ(acl_checked, 1);
  // A token A issued (method 3), active for A's AEF (RFC 7662 introspection at A).
  auto token = (*invoker)->RequestToken("3gpp#" + aef_id_ + ":location-query", "ccf-a");
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(Introspect(token->token), true);

  // A goes down. A cross-domain token request at B cannot be answered: 503 with Retry-After
  // (issue 10, problems 6 and 7: an outage, not a refusal), and B's metrics show the failed call.
  ASSERT_EQ(a_->Stop(), 0);
  a_.reset();
  {
    auto form = (*invoker)->TokenRequestForm("3gpp#" + aef_id_ + ":location-query", "ccf-a");
    ASSERT_TRUE(form.ok()) << form.status();
    HttpsClient::Options o{b_->ca_pem(), (*invoker)->certificate_pem(),
                           *(*invoker)->key().PrivateKeyPem()};
    auto client = HttpsClient::Create(o);
    ASSERT_TRUE(client.ok()) << client.status();
    auto down = (*client)->Request("POST", (*invoker)->TokenUrl(), *form,
                                   "application/x-www-form-urlencoded");
    ASSERT_TRUE(down.ok()) << down.status();
    EXPECT_EQ(down->status, 503) << down->body;
    EXPECT_EQ(down->headers["retry-after"], "5") << down->body;
    auto scraped = RunToCompletion({"/usr/bin/curl", "-sS", b_->metrics_url()}, absl::Seconds(30));
    ASSERT_TRUE(scraped.ok() && scraped->exit_code == 0);
    EXPECT_NE(scraped->out.find(R"(capif_bus_client_calls_total{peer="ccf-a",operation="ForwardTokenRequest",status="DEADLINE_EXCEEDED"} 1)"),
              std::string::npos) << scraped->out;
    EXPECT_NE(scraped->out.find(R"(capif_peer_answering{peer="ccf-a"} 0)"), std::string::npos)
        << scraped->out;
  }
  ASSERT_TRUE((*invoker)->Offboard().ok());
  ASSERT_TRUE(b_->process().WaitForStderr("notices to ccf-a are failing", absl::Seconds(20)).ok())
      << "B should say once that A does not take its notices";

  // The operator sees it waiting.
  auto waiting = RunToCompletion(
      {Runfile("tools/capifctl/capifctl"), "notices", "--config", b_->config(), "--json"},
      absl::Seconds(30));
  ASSERT_TRUE(waiting.ok() && waiting->exit_code == 0) << waiting->err;
  json pending = json::parse(waiting->out)["pending"];
  ASSERT_EQ(pending.size(), 1u) << waiting->out;
  EXPECT_EQ(pending[0]["kind"], "offboarding");
  EXPECT_EQ(pending[0]["destination"], "ccf-a");
  EXPECT_GE(pending[0]["attempts"].get<int>(), 1);
  EXPECT_EQ(pending[0]["api_invoker_id"], id);  // what it is about
  EXPECT_EQ(pending[0]["dead_letter"], false);
  // ... and so does monitoring (Prometheus text, fetched by curl).
  auto scraped = RunToCompletion({"/usr/bin/curl", "-sS", b_->metrics_url()}, absl::Seconds(30));
  ASSERT_TRUE(scraped.ok() && scraped->exit_code == 0) << (scraped.ok() ? scraped->err : "");
  EXPECT_NE(scraped->out.find(R"(capif_outbox_pending{kind="offboarding",destination="ccf-a"} 1)"),
            std::string::npos) << scraped->out;
  // Per API, method and status (the offboarding), and the bus calls A made to B.
  EXPECT_NE(scraped->out.find(R"(capif_http_requests_total{api="api-invoker-management",method="DELETE",status="204"} 1)"),
            std::string::npos) << scraped->out;
  EXPECT_NE(scraped->out.find(R"(capif_bus_calls_total{peer="ccf-a",operation=")"),
            std::string::npos) << scraped->out;
  EXPECT_NE(scraped->out.find("capif_http_open_connections "), std::string::npos);

  // B crashes (SIGKILL) while the notice is pending: it is in B's database, not lost.
  b_->KillAndRestart();
  // A comes back on its data: B's next retry is acknowledged, A forgets the invoker.
  StartA();
  ASSERT_TRUE(
      b_->process().WaitForStderr("ccf-a acknowledged offboarding", absl::Seconds(20)).ok());
  auto after = AefGet(id);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->status, 404) << after->body;
  // A itself holds nothing for the invoker any more (B would refuse as well, so the 404 alone
  // does not show it): no grant, and a record that B offboarded it.
  EXPECT_EQ(GrantsAtA(id), 0u);
  EXPECT_TRUE(OffboardedAtA(id));
  // Its unexpired token is revoked: A's AEF is told it is no longer active.
  EXPECT_EQ(Introspect(token->token), false);
  EXPECT_TRUE(a_->process().WaitForStderr("\"operation\":\"NOTIFY_OFFBOARDING\"",
                                          absl::Seconds(10)).ok());
  // A told its AEF through the AEF Security API, authenticated as CCF-A.
  auto calls = aef_security_->AwaitCalls(1, absl::Seconds(20));
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].first, "spiffe://operator-a.example/ccf/ccf-a");
  EXPECT_EQ(calls[0].second["revokeInfo"]["apiInvokerId"], id);
  EXPECT_EQ(calls[0].second["revokeInfo"]["aefId"], aef_id_);
  EXPECT_EQ(calls[0].second["revokeInfo"]["apiIds"].size(), 2u);  // both granted APIs

  auto drained = RunToCompletion(
      {Runfile("tools/capifctl/capifctl"), "notices", "--config", b_->config()}, absl::Seconds(30));
  ASSERT_TRUE(drained.ok());
  EXPECT_EQ(drained->out, "0 notice(s) waiting for acknowledgement\n");

  // Restarting A again changes nothing: the notice was acknowledged once, the state is gone.
  ASSERT_EQ(a_->Stop(), 0);
  StartA();
  auto later = AefGet(id);
  ASSERT_TRUE(later.ok());
  EXPECT_EQ(later->status, 404);
  EXPECT_EQ(aef_security_->AwaitCalls(2, absl::Milliseconds(1)).size(), 1u);
}

// Issue 12 probe: A is stopped (SIGSTOP: its sockets stay open and nothing answers), then
// resumed. While it is stopped, B answers a cross-domain token request for A's AEF with 503 and
// Retry-After within the bus deadline, not a hang and not a refusal, and the next one the same
// way (the breaker refuses it without waiting). Once A runs again, B's requests reach it.
TEST_F(TwoDomainsTest, PeerStoppedAndResumedIsAnOutageThenServesAgain) {
  auto invoker = CapifInvoker::Onboard(b_->api_root(), b_->ca_pem(), b_->EnrollmentToken("invoker"),
                                       "https://invoker.example/cb");
  ASSERT_TRUE(invoker.ok()) << invoker.status();
  auto all = (*invoker)->Discover();
  ASSERT_TRUE(all.ok() && all->size() == 2u) << (all.ok() ? all->dump() : all.status().ToString());
  ASSERT_TRUE((*invoker)->RequestSecurityMethods(*all, {"PSK", "OAUTH"}).ok());
  const std::string scope = "3gpp#" + aef_id_ + ":location-query";
  ASSERT_TRUE((*invoker)->RequestToken(scope, "ccf-a").ok());

  HttpsClient::Options o{b_->ca_pem(), (*invoker)->certificate_pem(),
                         *(*invoker)->key().PrivateKeyPem()};
  o.timeout = absl::Seconds(20);  // far beyond B's bus deadline: a hang shows as a failure
  auto client = HttpsClient::Create(o);
  ASSERT_TRUE(client.ok()) << client.status();
  auto token_request = [&]() -> absl::StatusOr<HttpsResponse> {
    auto form = (*invoker)->TokenRequestForm(scope, "ccf-a");  // a fresh assertion each time
    if (!form.ok()) return form.status();
    return (*client)->Request("POST", (*invoker)->TokenUrl(), *form,
                              "application/x-www-form-urlencoded");
  };

  a_->process().Signal(SIGSTOP);
  absl::Cleanup resume = [this] { a_->process().Signal(SIGCONT); };  // even if a check fails
  for (int i = 0; i < 2; ++i) {
    auto stopped = token_request();
    ASSERT_TRUE(stopped.ok()) << stopped.status();
    EXPECT_EQ(stopped->status, 503) << stopped->body;
    EXPECT_EQ(stopped->headers["retry-after"], "5") << stopped->body;
  }

  std::move(resume).Invoke();
  bool served = false;
  for (int attempt = 0; attempt < 20 && !served; ++attempt) {
    auto r = token_request();
    ASSERT_TRUE(r.ok()) << r.status();
    served = r->status == 200;
    if (!served) {
      EXPECT_EQ(r->status, 503) << r->body;  // still an outage while B reconnects, never a 4xx
      b_->process().WaitForStderr("peer ccf-a answers again", absl::Seconds(1)).IgnoreError();
    }
  }
  EXPECT_TRUE(served) << b_->process().stderr_text();
}

// Deleting the security context at B (a revocation) withdraws A's grants for that invoker too.
TEST_F(TwoDomainsTest, SecurityContextDeletedAtBIsRevokedAtA) {
  auto invoker = CapifInvoker::Onboard(b_->api_root(), b_->ca_pem(), b_->EnrollmentToken("invoker"),
                                       "https://invoker.example/cb");
  ASSERT_TRUE(invoker.ok()) << invoker.status();
  auto apis = (*invoker)->Discover({{"api-name", "psk-query"}});
  ASSERT_TRUE(apis.ok() && apis->size() == 1u);
  ASSERT_TRUE((*invoker)->RequestSecurityMethods(*apis, {"PSK"}).ok());
  std::string id = (*invoker)->api_invoker_id();
  // A's grant was provisional until B stored the context and confirmed it (issue 9, problem 6).
  ASSERT_TRUE(
      b_->process().WaitForStderr("ccf-a acknowledged grant-confirmation", absl::Seconds(20)).ok());
  EXPECT_EQ(ConfirmedGrantsAtA(id), 1u);
  ASSERT_EQ(AefGet(id)->status, 200);
  ASSERT_TRUE((*invoker)->DeleteSecurityContext().ok());
  ASSERT_TRUE(b_->process().WaitForStderr("ccf-a acknowledged revocation", absl::Seconds(20)).ok());
  EXPECT_EQ(AefGet(id)->status, 404);
  EXPECT_EQ(GrantsAtA(id), 0u);
  EXPECT_FALSE(OffboardedAtA(id));
  auto calls = aef_security_->AwaitCalls(1, absl::Seconds(20));
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].second["revokeInfo"]["apiInvokerId"], id);
  // The invoker is still onboarded at B and may ask again: A grants anew.
  ASSERT_TRUE((*invoker)->RequestSecurityMethods(*apis, {"PSK"}).ok());
  EXPECT_EQ(AefGet(id)->status, 200);
}

// Key issue #2 authorization with a third domain: C, a peer of B allowed to look up security
// information and query ownership, asks B for the AEFPSK of B's invoker for an AEF registered at
// A: PERMISSION_DENIED (B answers only the CCF hosting that AEF), while A still gets it. C is no
// peer of A: A refuses its handshake. C's ownership fan-out finds B as the invoker's home.
TEST_F(TwoDomainsTest, ThirdDomainCannotObtainAnotherDomainsSecurityInformation) {
  std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  CcfdProcess c("c-" + test, "c",
                absl::StrCat(R"([{"ccf_id": "ccf-b", "trust_domain": "operator-b.example",
                    "endpoint": ")", b_->bus_endpoint(), R"(", "trust_bundle": ")", b_ca_,
                             R"(", "relation": "CAPIF-6e"},
                  {"ccf_id": "ccf-a", "trust_domain": "operator-a.example",
                    "endpoint": ")", a_bus_, R"(", "trust_bundle": ")", a_ca_,
                             R"(", "relation": "CAPIF-6e"}])"));
  // B restarts on its address and data, now with C as a peer.
  std::string b_bus = b_->bus_endpoint();
  ASSERT_EQ(b_->Stop(), 0);
  b_ = std::make_unique<CcfdProcess>(
      "b-" + test, "b",
      BPeers(absl::StrCat(R"(, {"ccf_id": "ccf-c", "trust_domain": "operator-c.example",
                    "endpoint": "127.0.0.1:1", "trust_bundle": ")", c.ca_path(),
                          R"(", "relation": "CAPIF-6e", "agreement": {
                      "operations": ["LOOKUP_SECURITY_INFO", "QUERY_INVOKER_OWNERSHIP"]}})")),
      b_bus);

  auto invoker = CapifInvoker::Onboard(b_->api_root(), b_->ca_pem(),
                                       b_->EnrollmentToken("invoker"), "https://invoker.example/cb");
  ASSERT_TRUE(invoker.ok()) << invoker.status();
  auto apis = (*invoker)->Discover({{"api-name", "psk-query"}});
  ASSERT_TRUE(apis.ok() && apis->size() == 1u);
  ASSERT_TRUE((*invoker)->RequestSecurityMethods(*apis, {"PSK"}).ok());
  std::string id = (*invoker)->api_invoker_id();

  auto c_config = LoadCcfConfig(c.config());
  ASSERT_TRUE(c_config.ok()) << c_config.status();
  auto to_b = PeerClient::Create(c_config->bus_identity, c_config->peers[0], Clock::Real());
  auto to_a = PeerClient::Create(c_config->bus_identity, c_config->peers[1], Clock::Real());
  fv1::SecurityInfoLookup lookup;
  *lookup.mutable_header() = to_b->NewHeader();
  lookup.set_api_invoker_id(id);
  lookup.set_aef_id(aef_id_);
  lookup.set_method(fv1::SECURITY_METHOD_PSK);
  fv1::SecurityInfo info;
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    grpc::Status s = to_b->stub()->LookupSecurityInfo(&ctx, lookup, &info);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
    EXPECT_TRUE(info.aef_psk().empty());
  }
  // Audit lines have their members in alphabetical order.
  EXPECT_TRUE(b_->process().WaitForStderr(
      absl::StrCat(R"("decision":"deny","invoker":")", id,
                   R"(","operation":"LOOKUP_SECURITY_INFO","peer":"spiffe://operator-c.example/ccf/ccf-c")"),
      absl::Seconds(10)).ok());
  // The CCF that hosts the AEF still gets it.
  EXPECT_EQ(AefGet(id)->status, 200);
  // C naming B's CCF as the origin: refused as well.
  {
    *lookup.mutable_header() = to_b->NewHeader();
    lookup.mutable_header()->set_origin_ccf_id("ccf-a");
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    grpc::Status s = to_b->stub()->LookupSecurityInfo(&ctx, lookup, &info);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  }
  // A has no agreement with C: the handshake itself is refused.
  {
    *lookup.mutable_header() = to_a->NewHeader();
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    grpc::Status s = to_a->stub()->LookupSecurityInfo(&ctx, lookup, &info);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  }
  // Solution #14 over real processes: B claims its invoker, A does not know C (no answer); the
  // resolver still answers B within its deadline.
  OwnershipResolver resolver({{CcfId("ccf-b"), to_b.get()}, {CcfId("ccf-a"), to_a.get()}},
                             Clock::Real(), {});
  auto home = resolver.Resolve(ApiInvokerId(id));
  ASSERT_TRUE(home.ok()) << home.status();
  EXPECT_EQ(home->value(), "ccf-b");
  // Nobody claims it, but A could not answer: no negative answer can be given.
  EXPECT_EQ(resolver.Resolve(ApiInvokerId("inv-nobody")).status().code(),
            absl::StatusCode::kUnavailable);
  OwnershipResolver only_b({{CcfId("ccf-b"), to_b.get()}}, Clock::Real(), {});
  EXPECT_EQ(only_b.Resolve(ApiInvokerId("inv-nobody")).status().code(),
            absl::StatusCode::kNotFound);
}

// TR 33.700-22 #24, home-issued variant: B issues the token for A's AEF (no assertion, nothing
// forwarded), and A's AEF verifies it with B's keys, which A serves from its copy of B's bundle.
class HomeIssuedTokensTest : public TwoDomainsTest {
 protected:
  void SetUp() override {
    home_issued_tokens_ = true;
    TwoDomainsTest::SetUp();
  }
};

// The issuers A's AEFs accept, as A serves them.
std::map<std::string, json> IssuersAt(HttpsClient& client, const std::string& api_root) {
  auto r = client.Request("GET", api_root + "/.well-known/capif-token-issuers");
  std::map<std::string, json> out;
  EXPECT_TRUE(r.ok() && r->status == 200) << (r.ok() ? r->body : r.status().ToString());
  if (!r.ok() || r->status != 200) return out;
  json body = json::parse(r->body);  // named: the loop must not outlive it
  for (const json& i : body["issuers"]) out[i["iss"].get<std::string>()] = i["jwks"];
  return out;
}

TEST_F(HomeIssuedTokensTest, HomeCcfIssuesAndTheAefVerifiesWithItsKeysFromTheBundle) {
  ASSERT_TRUE(a_->process().WaitForStderr("trust bundle of ccf-b: sequence 1", absl::Seconds(20)).ok());
  auto invoker = CapifInvoker::Onboard(b_->api_root(), b_->ca_pem(), b_->EnrollmentToken("invoker"),
                                       "https://invoker.example/cb");
  ASSERT_TRUE(invoker.ok()) << invoker.status();
  auto apis = (*invoker)->Discover();
  ASSERT_TRUE(apis.ok() && apis->size() == 2u);
  ASSERT_TRUE((*invoker)->RequestSecurityMethods(*apis, {"OAUTH", "PSK"}).ok());
  std::string scope = "3gpp#" + aef_id_ + ":location-query";
  auto token = (*invoker)->RequestToken(scope);  // no assertion: nothing leaves B
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_FALSE(a_->process().stderr_text().find("FORWARD_TOKEN_REQUEST") != std::string::npos);

  std::map<std::string, json> issuers = IssuersAt(*anon_, a_->api_root());
  ASSERT_EQ(issuers.count("ccf-a"), 1u);
  ASSERT_EQ(issuers.count("ccf-b"), 1u);
  JwtValidator from_b({"at+jwt", "ccf-b", aef_id_, true, absl::Seconds(30)}, Clock::Real());
  auto jwt = from_b.Verify(token->token, *JwkSet::FromJson(issuers["ccf-b"].dump()));
  ASSERT_TRUE(jwt.ok()) << jwt.status();
  EXPECT_EQ(jwt->claims["client_id"], (*invoker)->api_invoker_id());
  EXPECT_EQ(jwt->claims["scope"], scope);
  // Not A's keys, and not as if A had issued it.
  EXPECT_FALSE(from_b.Verify(token->token, *JwkSet::FromJson(issuers["ccf-a"].dump())).ok());
  JwtValidator as_a({"at+jwt", "ccf-a", aef_id_, true, absl::Seconds(30)}, Clock::Real());
  EXPECT_FALSE(as_a.Verify(token->token, *JwkSet::FromJson(issuers["ccf-b"].dump())).ok());
  // Only what A selected OAUTH for: psk-query got PSK; not-shareable was never granted.
  EXPECT_FALSE((*invoker)->RequestToken("3gpp#" + aef_id_ + ":psk-query").ok());
  EXPECT_FALSE((*invoker)->RequestToken("3gpp#" + aef_id_ + ":not-shareable").ok());
}

// Under method 3 (the default), A's AEFs accept only A's tokens.
TEST_F(TwoDomainsTest, AefsAcceptOnlyTheirOwnCcfsTokensUnderMethod3) {
  std::map<std::string, json> issuers = IssuersAt(*anon_, a_->api_root());
  EXPECT_EQ(issuers.size(), 1u);
  EXPECT_EQ(issuers.count("ccf-a"), 1u);
}

// #14 in a flow: A has no grant naming the invoker's home (here: lost while A was down), so
// for its AEF's GET it finds the home by the ownership query and asks it; B answers because the
// invoker's context names that AEF as A's. The AEFPSK still equals the invoker's.
TEST_F(TwoDomainsTest, WithoutAGrantAFindsTheHomeByOwnershipQuery) {
  auto invoker = CapifInvoker::Onboard(b_->api_root(), b_->ca_pem(), b_->EnrollmentToken("invoker"),
                                       "https://invoker.example/cb");
  ASSERT_TRUE(invoker.ok()) << invoker.status();
  auto apis = (*invoker)->Discover({{"api-name", "psk-query"}});
  ASSERT_TRUE(apis.ok() && apis->size() == 1u);
  auto ctx = (*invoker)->RequestSecurityMethods(*apis, {"PSK"});
  ASSERT_TRUE(ctx.ok()) << ctx.status();
  std::string id = (*invoker)->api_invoker_id();
  ASSERT_EQ(a_->Stop(), 0);
  {
    auto db = OpenCcfDatabase(a_->dir() + "/data");
    ASSERT_TRUE(db.ok());
    SqlRemoteGrants store(*db);
    auto grants = store.OfInvoker(id);
    ASSERT_TRUE(grants.ok() && grants->size() == 1u);
    ASSERT_TRUE(store.Remove(*grants, std::nullopt, {}).ok());
  }
  StartA();
  EXPECT_EQ(GrantsAtA(id), 0u);
  auto info = AefGet(id);
  ASSERT_TRUE(info.ok());
  ASSERT_EQ(info->status, 200) << info->body;
  json body = json::parse(info->body);
  ASSERT_EQ(body["securityInfo"].size(), 1u) << info->body;
  EXPECT_EQ(body["securityInfo"][0]["selSecurityMethod"], "PSK");
  EXPECT_EQ(body["securityInfo"][0]["authenticationInfo"],
            absl::BytesToHexString(ctx->aef_psks[aef_id_].Reveal(InsecureSecretAccess())));
  EXPECT_TRUE(b_->process().WaitForStderr(R"("operation":"QUERY_INVOKER_OWNERSHIP","peer":"spiffe://operator-a.example/ccf/ccf-a")",
                                          absl::Seconds(10)).ok());
  // An invoker nobody claims: still 404.
  EXPECT_EQ(AefGet("inv-nobody")->status, 404);
}

// CAPIF_Events_API across CCFs: B's AEF subscribes at B to SERVICE_API_AVAILABLE and
// _UNAVAILABLE; A publishing an API it shares with B, and withdrawing it, reach B's subscriber
// (A -> B NotifySharedApiChange through A's outbox, then B's outbox to the subscriber), with
// A's apiId; an API A does not share tells B nothing.
TEST_F(TwoDomainsTest, SubscribersAtBHearOfApisASharesAppearingAndGoing) {
  EvpKey b_key = *EvpKey::GenerateEcP256();
  auto b_provider =
      RegisterApiProvider(b_->api_root(), b_->ca_pem(), b_->EnrollmentToken("provider"), b_key);
  ASSERT_TRUE(b_provider.ok()) << b_provider.status();
  std::string sink_dir = TestTmpDir("sink-" + a_name_);
  auto issued =
      RunToCompletion({Runfile("tools/capif-pki/capif-pki"), "issue", "--ca", b_->dir() + "/pki/ca",
                       "--spiffe-id", "spiffe://operator-b.example/aef/" + b_provider->aef_id,
                       "--ip", "127.0.0.1", "--out", sink_dir},
                      absl::Seconds(30));
  ASSERT_TRUE(issued.ok() && issued->exit_code == 0) << (issued.ok() ? issued->err : "");
  EventSink sink(*ReadFile(sink_dir + "/cert.pem"), SecretBytes(*ReadFile(sink_dir + "/key.pem")),
                 b_->ca_pem());
  auto b_aef =
      *HttpsClient::Create({b_->ca_pem(), b_provider->aef_certificate_pem, *b_key.PrivateKeyPem()});
  json sub = {{"events", {"SERVICE_API_AVAILABLE", "SERVICE_API_UNAVAILABLE"}},
              {"notificationDestination", sink.url()}};
  auto created = b_aef->Request(
      "POST", b_->api_root() + "/capif-events/v1/" + b_provider->aef_id + "/subscriptions",
      sub.dump(), "application/json");
  ASSERT_TRUE(created.ok() && created->status == 201) << (created.ok() ? created->body : "");

  auto shared = PublishServiceApi(a_->api_root(), a_->ca_pem(), provider_, key_,
                                  SimpleServiceApi("location-query", aef_id_, {"OAUTH"},
                                                   "127.0.0.1", aef_security_->port(), true));
  ASSERT_TRUE(shared.ok()) << shared.status();
  const std::string api_id = (*shared)["apiId"];
  // (What A published before the subscription may be told too, as B learns of it.)
  std::vector<json> got = sink.Await(api_id, 1, absl::Seconds(30));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]["events"], "SERVICE_API_AVAILABLE");

  // Not shared: nothing; then the shared one withdrawn.
  auto unshared = PublishServiceApi(a_->api_root(), a_->ca_pem(), provider_, key_,
                                    SimpleServiceApi("not-shareable", aef_id_, {"OAUTH"},
                                                     "127.0.0.1", aef_security_->port(), false));
  ASSERT_TRUE(unshared.ok()) << unshared.status();
  auto apf =
      *HttpsClient::Create({a_->ca_pem(), provider_.apf_certificate_pem, *key_.PrivateKeyPem()});
  auto gone = apf->Request(
      "DELETE", a_->api_root() + "/published-apis/v1/" + apf_id_ + "/service-apis/" + api_id);
  ASSERT_TRUE(gone.ok() && gone->status == 204);
  got = sink.Await(api_id, 2, absl::Seconds(30));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1]["events"], "SERVICE_API_UNAVAILABLE");
  // A's notices to B go in order: one for the unshared API would have come before.
  EXPECT_TRUE(sink.Await((*unshared)["apiId"], 1, absl::ZeroDuration()).empty());
}

// An AEF of A revoking an invoker onboarded at B (TS 29.222 revoke, TS 23.222 8.25): A drops
// the grant and tells B (RevocationNotice from the AEFs' CCF); B removes the entry from the
// invoker's security context and tells the invoker's own subscription at B
// (API_INVOKER_AUTHORIZATION_REVOKED). A's AEF then finds no security information.
TEST_F(TwoDomainsTest, AnAefOfARevokingBsInvokerIsToldToTheInvokerAtB) {
  auto invoker = CapifInvoker::Onboard(b_->api_root(), b_->ca_pem(), b_->EnrollmentToken("invoker"),
                                       "https://invoker.example/cb");
  ASSERT_TRUE(invoker.ok()) << invoker.status();
  auto apis = (*invoker)->Discover({{"api-name", "location-query"}});
  ASSERT_TRUE(apis.ok() && apis->size() == 1u);
  const std::string api_id = (*apis)[0]["apiId"];
  ASSERT_TRUE((*invoker)->RequestSecurityMethods(*apis, {"OAUTH"}).ok());
  const std::string id = (*invoker)->api_invoker_id();
  ASSERT_TRUE(
      b_->process().WaitForStderr("ccf-a acknowledged grant-confirmation", absl::Seconds(20)).ok());
  ASSERT_EQ(AefGet(id)->status, 200);

  // The invoker's subscription at B, notified at its own endpoint.
  std::string sink_dir = TestTmpDir("revoked-sink-" + a_name_);
  auto issued = RunToCompletion(
      {Runfile("tools/capif-pki/capif-pki"), "issue", "--ca", b_->dir() + "/pki/ca", "--spiffe-id",
       "spiffe://operator-b.example/aef/revoked-sink", "--ip", "127.0.0.1", "--out", sink_dir},
      absl::Seconds(30));
  ASSERT_TRUE(issued.ok() && issued->exit_code == 0) << (issued.ok() ? issued->err : "");
  EventSink sink(*ReadFile(sink_dir + "/cert.pem"), SecretBytes(*ReadFile(sink_dir + "/key.pem")),
                 b_->ca_pem());
  auto as_invoker = *HttpsClient::Create(
      {b_->ca_pem(), (*invoker)->certificate_pem(), *(*invoker)->key().PrivateKeyPem()});
  json sub = {{"events", {"API_INVOKER_AUTHORIZATION_REVOKED"}},
              {"notificationDestination", sink.url()}};
  auto created =
      as_invoker->Request("POST", b_->api_root() + "/capif-events/v1/" + id + "/subscriptions",
                          sub.dump(), "application/json");
  ASSERT_TRUE(created.ok() && created->status == 201) << (created.ok() ? created->body : "");

  auto aef =
      *HttpsClient::Create({a_->ca_pem(), provider_.aef_certificate_pem, *key_.PrivateKeyPem()});
  json revoke = {{"apiInvokerId", id}, {"apiIds", {api_id}}, {"cause", "UNEXPECTED_REASON"}};
  auto revoked =
      aef->Request("POST", a_->api_root() + "/capif-security/v1/trustedInvokers/" + id + "/delete",
                   revoke.dump(), "application/json");
  ASSERT_TRUE(revoked.ok() && revoked->status == 204) << (revoked.ok() ? revoked->body : "");
  EXPECT_EQ(GrantsAtA(id), 0u);
  // At once, before B heard of it: A does not ask B by the ownership query for what was revoked.
  EXPECT_EQ(AefGet(id)->status, 404);

  std::vector<json> got = sink.Await(api_id, 1, absl::Seconds(30));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]["events"], "API_INVOKER_AUTHORIZATION_REVOKED");
  EXPECT_EQ(got[0]["eventDetail"]["apiInvokerIds"], json::array({id}));
  EXPECT_EQ(AefGet(id)->status, 404);
  // B's security context of the invoker no longer names A's AEF: a new token is refused.
  auto token = (*invoker)->RequestToken("3gpp#" + aef_id_ + ":location-query", "ccf-a");
  EXPECT_FALSE(token.ok());
  // B asks A again for the same AEF: a new grant, and the AEF is answered again.
  ASSERT_TRUE((*invoker)->RequestSecurityMethods(*apis, {"OAUTH"}).ok());
  EXPECT_EQ(AefGet(id)->status, 200);
}

}  // namespace
}  // namespace capif

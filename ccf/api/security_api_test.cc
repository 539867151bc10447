#include "ccf/api/security_api.h"

#include <gtest/gtest.h>

#include "ccf/testing/ccf_world.h"
#include "common/jws.h"

namespace capif {
namespace {

using nlohmann::json;

class SecurityApiTest : public ::testing::Test {
 protected:
  SecurityApiTest() : w_(::testing::UnitTest::GetInstance()->current_test_info()->name()) {
    p_ = w_.RegisterProvider();
    pki_api_ = w_.Publish(p_.apf_id, CcfWorld::SampleApi("location-query", p_.aef_id, {"PKI", "OAUTH"}));
    inv_ = w_.OnboardInvoker();
  }

  RestRequest InvokerReq(const std::string& caller, const std::string& path_id, const json& body) {
    RestRequest r = w_.As("invoker", caller, body);
    r.path_params = {path_id};
    return r;
  }
  json ServiceSecurity(std::vector<std::string> pref, const std::string& aef_id) {
    return {{"notificationDestination", "https://invoker.example/cb"},
            {"securityInfo", {{{"aefId", aef_id}, {"prefSecurityMethods", pref}}}}};
  }
  RestRequest TokenReq(const std::string& form, const std::string& security_id) {
    RestRequest r = w_.As("invoker", inv_.id);
    r.path_params = {security_id};
    r.body = form;
    r.headers.emplace("content-type", "application/x-www-form-urlencoded");
    return r;
  }
  static RestRequest NoCert(RestRequest r) {
    r.caller.reset();
    return r;
  }
  std::string Form(const std::string& secret, const std::string& scope) {
    return "grant_type=client_credentials&client_id=" + inv_.id + "&client_secret=" + secret +
           "&scope=" + scope;
  }

  CcfWorld w_;
  CcfWorld::Provider p_;
  json pki_api_;
  CcfWorld::Invoker inv_;
};

TEST_F(SecurityApiTest, MethodIsTheAefsIntersectedWithPreferenceInPriorityOrder) {
  // The AEF offers PKI and OAUTH; the invoker prefers OAUTH, then PKI; priority PSK > PKI > OAUTH.
  auto res = w_.security_api->Create(InvokerReq(inv_.id, inv_.id, ServiceSecurity({"OAUTH", "PKI"}, p_.aef_id)));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->status, 201);
  json body = json::parse(res->body);
  EXPECT_EQ(body["securityInfo"][0]["selSecurityMethod"], "PKI");
  EXPECT_EQ(body["securityInfo"][0]["apiId"], pki_api_["apiId"]);
  // No common method: refused, nothing stored.
  auto other = w_.OnboardInvoker();
  auto none = w_.security_api->Create(InvokerReq(other.id, other.id, ServiceSecurity({"PSK"}, p_.aef_id)));
  EXPECT_EQ(CcfWorld::HttpStatus(none), 400);
  EXPECT_FALSE(w_.contexts->Get(other.id)->has_value());
}

TEST_F(SecurityApiTest, OnlyTheInvokerManagesAndOnlyItsAefsRead) {
  auto other = w_.OnboardInvoker();
  EXPECT_EQ(CcfWorld::HttpStatus(w_.security_api->Create(
                InvokerReq(other.id, inv_.id, ServiceSecurity({"PKI"}, p_.aef_id)))),
            403);
  ASSERT_TRUE(w_.security_api->Create(InvokerReq(inv_.id, inv_.id, ServiceSecurity({"PKI"}, p_.aef_id))).ok());

  RestRequest by_aef = w_.As("aef", p_.aef_id);
  by_aef.path_params = {inv_.id};
  by_aef.query = {{"authenticationInfo", "true"}, {"authorizationInfo", "true"}};
  auto got = w_.security_api->GetForAef(by_aef);
  ASSERT_TRUE(got.ok()) << got.status();
  json info = json::parse(got->body)["securityInfo"][0];
  EXPECT_EQ(info["authenticationInfo"], *w_.ca.certificate().ToPem());  // the invoker's root CA
  EXPECT_EQ(info["authorizationInfo"], pki_api_["apiId"]);
  // No AEFPSK in it: the AEF may keep it 5 minutes, and no shared cache may.
  bool cache_control = false;
  for (const auto& [k, v] : got->headers) {
    if (k == "Cache-Control") cache_control = v == "private, max-age=300";
  }
  EXPECT_TRUE(cache_control);

  RestRequest by_invoker = w_.As("invoker", inv_.id);
  by_invoker.path_params = {inv_.id};
  EXPECT_EQ(CcfWorld::HttpStatus(w_.security_api->GetForAef(by_invoker)), 403);
  auto q = w_.RegisterProvider();
  RestRequest other_aef = w_.As("aef", q.aef_id);
  other_aef.path_params = {inv_.id};
  EXPECT_EQ(CcfWorld::HttpStatus(w_.security_api->GetForAef(other_aef)), 404);
  // An AEF certificate of the right domain whose AEF is not (or no longer) registered.
  RestRequest unregistered = w_.As("aef", "aef-gone");
  unregistered.path_params = {inv_.id};
  EXPECT_EQ(CcfWorld::HttpStatus(w_.security_api->GetForAef(unregistered)), 403);

  // The AEF revokes; afterwards it gets nothing.
  RestRequest revoke = w_.As("aef", p_.aef_id, json{{"apiInvokerId", inv_.id},
                                                    {"apiIds", {pki_api_["apiId"]}},
                                                    {"cause", "UNEXPECTED_REASON"}});
  revoke.path_params = {inv_.id};
  EXPECT_EQ(CcfWorld::HttpStatus(w_.security_api->RevokeByAef(revoke)), 204);
  EXPECT_EQ(CcfWorld::HttpStatus(w_.security_api->GetForAef(by_aef)), 404);
}

TEST_F(SecurityApiTest, PskNeedsTheTlsSessionOfTheRequest) {
  auto p = w_.RegisterProvider();
  w_.Publish(p.apf_id, CcfWorld::SampleApi("psk-api", p.aef_id, {"PSK"}));
  // No TLS session (in-process call): no AEFPSK can be derived, so PSK is refused.
  auto res = w_.security_api->Create(InvokerReq(inv_.id, inv_.id, ServiceSecurity({"PSK"}, p.aef_id)));
  EXPECT_EQ(CcfWorld::HttpStatus(res), 400);
}

TEST_F(SecurityApiTest, BadSecurityInfoIsRefused) {
  json both = ServiceSecurity({"PKI"}, p_.aef_id);
  both["securityInfo"][0]["interfaceDetails"] = {{"ipv4Addr", "127.0.0.1"}, {"port", 9443}};
  json neither = ServiceSecurity({"PKI"}, p_.aef_id);
  neither["securityInfo"][0].erase("aefId");
  json bad_method = ServiceSecurity({"TLS"}, p_.aef_id);
  json no_pref = ServiceSecurity({"PKI"}, p_.aef_id);
  no_pref["securityInfo"][0].erase("prefSecurityMethods");
  json no_dest = ServiceSecurity({"PKI"}, p_.aef_id);
  no_dest.erase("notificationDestination");
  for (const json& b : {both, neither, bad_method, no_pref, no_dest}) {
    EXPECT_EQ(CcfWorld::HttpStatus(w_.security_api->Create(InvokerReq(inv_.id, inv_.id, b))), 400)
        << b.dump();
  }
  EXPECT_EQ(CcfWorld::HttpStatus(w_.security_api->Create(
                InvokerReq(inv_.id, inv_.id, ServiceSecurity({"PKI"}, "aef-unknown")))),
            404);
  // By interface instead of AEF id.
  json by_interface = ServiceSecurity({"PKI"}, p_.aef_id);
  by_interface["securityInfo"][0].erase("aefId");
  by_interface["securityInfo"][0]["interfaceDetails"] = {
      {"ipv4Addr", "127.0.0.1"}, {"port", 9443}, {"apiPrefix", "/location-query"}};
  auto ok = w_.security_api->Create(InvokerReq(inv_.id, inv_.id, by_interface));
  ASSERT_TRUE(ok.ok()) << ok.status();
  // SecurityInformation carries one of interfaceDetails and aefId (the schema's oneOf): the
  // one the invoker used.
  json entry = json::parse(ok->body)["securityInfo"][0];
  EXPECT_FALSE(entry.contains("aefId")) << entry.dump();
  EXPECT_EQ(entry["interfaceDetails"]["port"], 9443);
  // The AEF still reads it (it is that AEF's entry), in the same form.
  RestRequest get = w_.As("aef", p_.aef_id);
  get.path_params = {inv_.id};
  auto read = w_.security_api->GetForAef(get);
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->status, 200) << read->body;
  json seen = json::parse(read->body)["securityInfo"][0];
  EXPECT_FALSE(seen.contains("aefId"));
  EXPECT_EQ(seen["selSecurityMethod"], "PKI");
}

TEST_F(SecurityApiTest, TokenForOauthContext) {
  ASSERT_TRUE(w_.security_api->Create(InvokerReq(inv_.id, inv_.id, ServiceSecurity({"OAUTH"}, p_.aef_id))).ok());
  std::string scope = "3gpp%23" + p_.aef_id + "%3Alocation-query";
  auto res = w_.security_api->Token(TokenReq(Form(inv_.onboarding_secret, scope), inv_.id));
  ASSERT_TRUE(res.ok());
  ASSERT_EQ(res->status, 200) << res->body;
  json body = json::parse(res->body);
  EXPECT_EQ(body["token_type"], "Bearer");
  EXPECT_EQ(body["expires_in"], 3600);
  // The AEF verifies it with the CCF's JWKS.
  JwtValidator validator({"at+jwt", "ccf-a", p_.aef_id, true, absl::Seconds(30)}, w_.clock);
  auto jwks = JwkSet::FromJson(w_.security_api->Jwks(RestRequest())->body);
  ASSERT_TRUE(jwks.ok());
  auto jwt = validator.Verify(body["access_token"].get<std::string>(), *jwks);
  ASSERT_TRUE(jwt.ok()) << jwt.status();
  EXPECT_EQ(jwt->claims["client_id"], inv_.id);
  EXPECT_EQ(jwt->claims["sub"], inv_.id);
  EXPECT_EQ(jwt->claims["scope"], "3gpp#" + p_.aef_id + ":location-query");
  EXPECT_TRUE(jwt->claims.contains("jti"));

  // Key rotation keeps the token valid.
  ASSERT_TRUE(w_.keyring->Rotate().ok());
  auto rotated = JwkSet::FromJson(w_.security_api->Jwks(RestRequest())->body);
  EXPECT_EQ(rotated->size(), 2u);
  EXPECT_TRUE(validator.Verify(body["access_token"].get<std::string>(), *rotated).ok());
}

// RFC 7662 introspection for the CCF's AEFs: active while the authorization behind the token
// still holds, so giving it up (or offboarding) deactivates unexpired tokens.
TEST_F(SecurityApiTest, IntrospectionFollowsTheAuthorization) {
  ASSERT_TRUE(w_.security_api->Create(InvokerReq(inv_.id, inv_.id, ServiceSecurity({"OAUTH"}, p_.aef_id))).ok());
  std::string scope = "3gpp%23" + p_.aef_id + "%3Alocation-query";
  auto res = w_.security_api->Token(TokenReq(Form(inv_.onboarding_secret, scope), inv_.id));
  ASSERT_TRUE(res.ok() && res->status == 200);
  std::string token = json::parse(res->body)["access_token"];
  auto introspect = [&](const std::string& kind, const std::string& id, const std::string& form) {
    RestRequest r = w_.As(kind, id);
    r.body = form;
    r.headers.emplace("content-type", "application/x-www-form-urlencoded");
    return w_.security_api->Introspect(r);
  };
  auto active = introspect("aef", p_.aef_id, "token=" + token);
  ASSERT_TRUE(active.ok());
  ASSERT_EQ(active->status, 200) << active->body;
  json a = json::parse(active->body);
  EXPECT_EQ(a["active"], true);
  EXPECT_EQ(a["client_id"], inv_.id);
  EXPECT_EQ(a["aud"], p_.aef_id);
  // Another AEF: not for it. Garbage: inactive. Not an AEF: refused.
  auto q = w_.RegisterProvider();
  EXPECT_EQ(json::parse(introspect("aef", q.aef_id, "token=" + token)->body)["active"], false);
  EXPECT_EQ(json::parse(introspect("aef", p_.aef_id, "token=abc.def.ghi")->body)["active"], false);
  EXPECT_EQ(CcfWorld::HttpStatus(introspect("invoker", inv_.id, "token=" + token)), 403);
  EXPECT_EQ(CcfWorld::HttpStatus(introspect("aef", p_.aef_id, "token=a&token=b")), 400);
  // The invoker gives up its security context: the unexpired token is no longer active.
  RestRequest del = w_.As("invoker", inv_.id);
  del.path_params = {inv_.id};
  ASSERT_EQ(CcfWorld::HttpStatus(w_.security_api->Remove(del)), 204);
  EXPECT_EQ(json::parse(introspect("aef", p_.aef_id, "token=" + token)->body)["active"], false);
  // A new security context does not bring the old token back; a new token is active until exp.
  w_.clock.Advance(absl::Seconds(1));
  ASSERT_TRUE(w_.security_api->Create(InvokerReq(inv_.id, inv_.id, ServiceSecurity({"OAUTH"}, p_.aef_id))).ok());
  EXPECT_EQ(json::parse(introspect("aef", p_.aef_id, "token=" + token)->body)["active"], false);
  res = w_.security_api->Token(TokenReq(Form(inv_.onboarding_secret, scope), inv_.id));
  ASSERT_TRUE(res.ok() && res->status == 200);
  std::string fresh = json::parse(res->body)["access_token"];
  EXPECT_EQ(json::parse(introspect("aef", p_.aef_id, "token=" + fresh)->body)["active"], true);
  w_.clock.Advance(absl::Hours(2));
  EXPECT_EQ(json::parse(introspect("aef", p_.aef_id, "token=" + fresh)->body)["active"], false);
}

// Issue 9, problem 3: within one second, token T, DELETE, PUT again: T is inactive (times are
// compared to the microsecond), and a token issued right after the new PUT is active.
TEST_F(SecurityApiTest, IntrospectionOrdersRevocationsWithinOneSecond) {
  auto put = [&] {
    return w_.security_api->Create(InvokerReq(inv_.id, inv_.id, ServiceSecurity({"OAUTH"}, p_.aef_id)));
  };
  std::string scope = "3gpp%23" + p_.aef_id + "%3Alocation-query";
  auto token = [&] {
    auto res = w_.security_api->Token(TokenReq(Form(inv_.onboarding_secret, scope), inv_.id));
    EXPECT_TRUE(res.ok() && res->status == 200);
    return json::parse(res->body)["access_token"].get<std::string>();
  };
  auto active = [&](const std::string& t) {
    RestRequest r = w_.As("aef", p_.aef_id);
    r.body = "token=" + t;
    r.headers.emplace("content-type", "application/x-www-form-urlencoded");
    return json::parse(w_.security_api->Introspect(r)->body)["active"].get<bool>();
  };
  // All of it within one second of the clock: from .100 to .400.
  w_.clock.Set(absl::FromUnixSeconds(absl::ToUnixSeconds(w_.clock.Now()) + 1) + absl::Milliseconds(100));
  ASSERT_EQ(CcfWorld::HttpStatus(put()), 201);
  w_.clock.Advance(absl::Milliseconds(100));
  std::string old = token();
  EXPECT_TRUE(active(old));
  w_.clock.Advance(absl::Milliseconds(100));
  RestRequest del = w_.As("invoker", inv_.id);
  del.path_params = {inv_.id};
  ASSERT_EQ(CcfWorld::HttpStatus(w_.security_api->Remove(del)), 204);
  w_.clock.Advance(absl::Milliseconds(100));
  ASSERT_EQ(CcfWorld::HttpStatus(put()), 201);
  EXPECT_FALSE(active(old)) << "a token issued before the revocation, in the same second";
  w_.clock.Advance(absl::Microseconds(1));
  std::string fresh = token();
  EXPECT_TRUE(active(fresh)) << "a token issued after the new authorization, in the same second";
  // Its iat carries the fraction: an AEF can order it against a revocation too.
  auto jwks = JwkSet::FromJson(w_.security_api->Jwks(RestRequest())->body);
  JwtValidator validator({"at+jwt", "ccf-a", p_.aef_id, true, absl::Seconds(30)}, w_.clock);
  auto jwt = validator.Verify(fresh, *jwks);
  ASSERT_TRUE(jwt.ok()) << jwt.status();
  EXPECT_EQ(jwt->issued_at, absl::FromUnixMicros(absl::ToUnixMicros(w_.clock.Now())));
}

// Issue 9, problem 1: an AEF revoking one API of an entry that covers two removes exactly that
// API, and the other stays authorized.
TEST_F(SecurityApiTest, AefRevokesOneApiOfAnEntryCoveringSeveral) {
  json second = w_.Publish(p_.apf_id, CcfWorld::SampleApi("second-api", p_.aef_id, {"PKI"}));
  std::string a = pki_api_["apiId"], b = second["apiId"];
  // By aefId without apiId: the entry covers both APIs of the AEF.
  ASSERT_EQ(CcfWorld::HttpStatus(w_.security_api->Create(
                InvokerReq(inv_.id, inv_.id, ServiceSecurity({"PKI"}, p_.aef_id)))),
            201);
  auto get = [&] {
    RestRequest r = w_.As("aef", p_.aef_id);
    r.path_params = {inv_.id};
    r.query.emplace("authorizationInfo", "true");
    return w_.security_api->GetForAef(r);
  };
  auto before = get();
  ASSERT_EQ(CcfWorld::HttpStatus(before), 200);
  std::string both = json::parse(before->body)["securityInfo"][0]["authorizationInfo"];
  EXPECT_TRUE(both == a + "," + b || both == b + "," + a) << both;
  auto revoke = [&](const std::string& api) {
    RestRequest r = w_.As("aef", p_.aef_id,
                          {{"apiInvokerId", inv_.id}, {"apiIds", {api}}, {"cause", "OVERLIMIT_USAGE"}});
    r.path_params = {inv_.id};
    return w_.security_api->RevokeByAef(r);
  };
  ASSERT_EQ(CcfWorld::HttpStatus(revoke(a)), 204);
  auto after = get();
  ASSERT_EQ(CcfWorld::HttpStatus(after), 200) << after->body;
  json entry = json::parse(after->body)["securityInfo"][0];
  EXPECT_EQ(entry["authorizationInfo"], b);
  EXPECT_EQ(entry["apiId"], b);
  ASSERT_EQ(CcfWorld::HttpStatus(revoke(b)), 204);
  EXPECT_EQ(CcfWorld::HttpStatus(get()), 404);
}

// A peer whose AEF "aef-r" serves one shared API; each method request may run `during` first
// (what another request does while this one waits for the peer).
class RacingPeer : public PeerRequests {
 public:
  std::function<void()> during;
  SharedApiSnapshot SharedApis(const std::string&) override {
    SharedApiSnapshot s;
    s.apis = {{{"apiName", "remote-api"}, {"apiId", "api-r"}, {"ccfId", "ccf-z"},
               {"aefProfiles", {{{"aefId", "aef-r"}, {"securityMethods", {"OAUTH"}}}}}}};
    return s;
  }
  absl::StatusOr<MethodDecision> RequestSecurityMethod(const std::string&, const std::string&,
                                                       const std::vector<std::string>&,
                                                       const std::string& aef_id,
                                                       const std::string& api_id) override {
    if (during) std::exchange(during, nullptr)();
    return MethodDecision{aef_id, api_id.empty() ? "api-r" : api_id, "OAUTH", ""};
  }
  absl::StatusOr<RemoteSecurityInfo> LookupSecurityInfo(const std::string&, const std::string&,
                                                        const std::string&,
                                                        const std::string&) override {
    return absl::UnimplementedError("not in this test");
  }
  absl::StatusOr<ForwardedToken> ForwardToken(const std::string&, const std::string&,
                                              const std::string&, const std::string&,
                                              const std::string&) override {
    return absl::UnimplementedError("not in this test");
  }
  absl::StatusOr<std::string> FindInvokerHome(const std::string&) override {
    return absl::UnimplementedError("not in this test");
  }
  absl::Status DeliverNotice(const PeerNoticeDelivery&) override {
    return absl::UnimplementedError("not in this test");
  }
};

// Issue 9, problem 2: /update asks the peer, and a revocation lands meanwhile: the update is
// redone on the revoked state instead of writing back what it read.
TEST_F(SecurityApiTest, UpdateRacingARevocationDoesNotBringItBack) {
  RacingPeer peer;
  SecurityApiConfig config{&w_.invokers, &w_.providers, &w_.service_apis, w_.contexts.get(), &w_.grants,
                           w_.keyring.get(), &w_.ca, &w_.clock, "ccf-a", "https://ccf.example"};
  config.remote = &peer;
  SecurityApi api(std::move(config));
  ASSERT_EQ(CcfWorld::HttpStatus(
                api.Create(InvokerReq(inv_.id, inv_.id, ServiceSecurity({"PKI"}, p_.aef_id)))),
            201);
  peer.during = [&] {
    RestRequest r = w_.As("aef", p_.aef_id,
                          {{"apiInvokerId", inv_.id},
                           {"apiIds", {pki_api_["apiId"]}},
                           {"cause", "UNEXPECTED_REASON"}});
    r.path_params = {inv_.id};
    EXPECT_EQ(CcfWorld::HttpStatus(api.RevokeByAef(r)), 204);
  };
  RestRequest update = InvokerReq(
      inv_.id, inv_.id, {{"securityInfo", {{{"aefId", "aef-r"}, {"prefSecurityMethods", {"OAUTH"}}}}}});
  auto res = api.AddEntries(update);
  ASSERT_EQ(CcfWorld::HttpStatus(res), 200) << res->body;
  auto ctx = w_.contexts->Get(inv_.id);
  ASSERT_TRUE(ctx.ok() && ctx->has_value());
  ASSERT_EQ((*ctx)->entries.size(), 1u) << "the revoked entry came back";
  EXPECT_EQ((*ctx)->entries[0].aef_id, "aef-r");
  EXPECT_EQ((*ctx)->entries[0].remote_ccf_id, "ccf-z");
  // The peer's grant is confirmed through the outbox, written with the context.
  auto pending = SqlNoticeOutbox(w_.db).Pending();
  ASSERT_TRUE(pending.ok());
  int confirmations = 0;
  for (const OutboundNotice& n : *pending) {
    if (n.kind == kNoticeGrantConfirmation && n.destination == "ccf-z") ++confirmations;
  }
  EXPECT_EQ(confirmations, 1) << "one per successful write, none for the lost race";
}

// Peers that are down: nothing shared is known, no peer answers for its invokers.
class DownPeers : public RacingPeer {
 public:
  SharedApiSnapshot SharedApis(const std::string&) override {
    SharedApiSnapshot s;
    s.unreachable = {"ccf-z"};
    return s;
  }
  absl::StatusOr<std::string> FindInvokerHome(const std::string&) override {
    return absl::UnavailableError("peer ccf-z: connection refused");
  }
};

// Issue 10, problem 7: a peer outage is not "not found": 503 with Retry-After.
TEST_F(SecurityApiTest, APeerOutageIsServiceUnavailableNotNotFound) {
  DownPeers peer;
  SecurityApiConfig config{&w_.invokers, &w_.providers, &w_.service_apis, w_.contexts.get(),
                           &w_.grants, w_.keyring.get(), &w_.ca, &w_.clock, "ccf-a",
                           "https://ccf.example"};
  config.remote = &peer;
  SecurityApi api(std::move(config));
  auto put = api.Create(InvokerReq(
      inv_.id, inv_.id,
      {{"notificationDestination", "https://inv.example/n"},
       {"securityInfo", {{{"aefId", "aef-r"}, {"prefSecurityMethods", {"OAUTH"}}}}}}));
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(put->status, 503) << put->body;
  EXPECT_EQ(put->content_type, "application/problem+json");
  ASSERT_EQ(put->headers.size(), 1u);
  EXPECT_EQ(put->headers[0].first, "Retry-After");
  EXPECT_NE(put->body.find("ccf-z"), std::string::npos) << put->body;
  EXPECT_FALSE(w_.contexts->Get(inv_.id)->has_value());  // nothing written
  // Our own AEFs are still found while the peer is down.
  EXPECT_EQ(CcfWorld::HttpStatus(
                api.Create(InvokerReq(inv_.id, inv_.id, ServiceSecurity({"PKI"}, p_.aef_id)))),
            201);
  // An AEF asking for a peer's invoker whose home cannot be found: 503, not 404.
  RestRequest get = w_.As("aef", p_.aef_id);
  get.path_params = {"inv-of-ccf-z"};
  auto res = api.GetForAef(get);
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->status, 503) << res->body;
}

// A peer that is the home of "inv-of-ccf-z" and answers for it with `destination`.
class HomePeer : public RacingPeer {
 public:
  std::string destination;
  absl::StatusOr<std::string> FindInvokerHome(const std::string&) override { return "ccf-z"; }
  absl::StatusOr<RemoteSecurityInfo> LookupSecurityInfo(const std::string&, const std::string&,
                                                        const std::string&,
                                                        const std::string&) override {
    RemoteSecurityInfo info;
    info.method = "OAUTH";
    info.authorization_info = "api-r";
    info.notification_destination = destination;
    return info;
  }
};

// For a peer's invoker, the AEF gets that invoker's notificationDestination from its home, and
// this CCF's API root only from a home that sends none (issue 11, independent testing).
TEST_F(SecurityApiTest, APeersInvokerCarriesItsOwnNotificationDestination) {
  for (const std::string& sent : {std::string("https://inv.example/home-cb"), std::string()}) {
    HomePeer peer;
    peer.destination = sent;
    SecurityApiConfig config{
        &w_.invokers, &w_.providers,        &w_.service_apis, w_.contexts.get(),
        &w_.grants,   w_.keyring.get(),     &w_.ca,           &w_.clock,
        "ccf-a",      "https://ccf.example"};
    config.remote = &peer;
    SecurityApi api(std::move(config));
    RestRequest get = w_.As("aef", p_.aef_id);
    get.path_params = {"inv-of-ccf-z"};
    get.query = {{"authorizationInfo", "true"}};
    auto res = api.GetForAef(get);
    ASSERT_TRUE(res.ok()) << res.status();
    ASSERT_EQ(res->status, 200) << res->body;
    json body = json::parse(res->body);
    EXPECT_EQ(body["notificationDestination"], sent.empty() ? "https://ccf.example" : sent);
    EXPECT_EQ(body["securityInfo"][0]["aefId"], p_.aef_id);
    EXPECT_EQ(body["securityInfo"][0]["authorizationInfo"], "api-r");
  }
}

TEST_F(SecurityApiTest, TokenErrorsAreAccessTokenErr) {
  ASSERT_TRUE(w_.security_api->Create(InvokerReq(inv_.id, inv_.id, ServiceSecurity({"PKI"}, p_.aef_id))).ok());
  std::string scope = "3gpp%23" + p_.aef_id + "%3Alocation-query";
  struct Case {
    RestRequest req;
    int status;
    std::string error;
  } cases[] = {
      {TokenReq(Form("wrong-secret", scope), inv_.id), 401, "invalid_client"},
      {TokenReq(Form(inv_.onboarding_secret, scope), "inv-other"), 401, "invalid_client"},
      {TokenReq("grant_type=password&client_id=" + inv_.id, inv_.id), 400, "unsupported_grant_type"},
      {TokenReq(Form(inv_.onboarding_secret, "openid"), inv_.id), 400, "invalid_scope"},
      // PKI was selected, not OAUTH: no token for this AEF.
      {TokenReq(Form(inv_.onboarding_secret, scope), inv_.id), 400, "invalid_scope"},
      {TokenReq("grant_type=client_credentials", inv_.id), 400, "invalid_request"},
      {NoCert(TokenReq(Form(inv_.onboarding_secret, scope), inv_.id)), 401, "invalid_client"},
      {TokenReq(Form(inv_.onboarding_secret, scope) + "&client_id=x", inv_.id), 400, "invalid_request"},
  };
  for (const Case& c : cases) {
    auto res = w_.security_api->Token(c.req);
    ASSERT_TRUE(res.ok()) << c.error;
    EXPECT_EQ(res->status, c.status) << c.error << " " << res->body;
    EXPECT_EQ(json::parse(res->body)["error"], c.error) << res->body;
  }
  RestRequest wrong_type = TokenReq(Form(inv_.onboarding_secret, scope), inv_.id);
  wrong_type.headers = {{"content-type", "application/json"}};
  EXPECT_EQ(CcfWorld::HttpStatus(w_.security_api->Token(wrong_type)), 415);
}

TEST(CapifScopeTest, ParsesTheGrammar) {
  auto s = ParseCapifScope("3gpp#aef-1:api-a,api-b;aef-2:api-c");
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->size(), 2u);
  EXPECT_EQ((*s)[0].first, "aef-1");
  EXPECT_EQ((*s)[0].second, (std::vector<std::string>{"api-a", "api-b"}));
  EXPECT_EQ((*s)[1].second, std::vector<std::string>{"api-c"});
  EXPECT_TRUE(ScopeCovers(*s, "aef-1", "api-b"));
  EXPECT_FALSE(ScopeCovers(*s, "aef-2", "api-a"));
  for (const char* bad : {"aef-1:api", "3gpp#", "3gpp#aef-1", "3gpp#aef-1:", "3gpp#aef 1:a",
                          "3gpp#aef-1:a,,b"}) {
    EXPECT_FALSE(ParseCapifScope(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace capif

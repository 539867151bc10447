#include "ccf/core/local_ccf_state.h"

#include <gtest/gtest.h>

#include "ccf/testing/ccf_world.h"
#include "common/testing/raw_jws.h"

namespace capif {
namespace {

using nlohmann::json;

TEST(LocalCcfStateTest, SharesOnlyWhatTheAgreementAndShareableInfoAllow) {
  CcfWorld w("LocalCcfStateTest");
  LocalCcfState state(w.LocalConfig("ccf-a"));
  auto p = w.RegisterProvider();
  auto shared = CcfWorld::SampleApi("location-query", p.aef_id);
  shared["shareableInfo"] = {{"isShareable", true}};
  auto private_api = CcfWorld::SampleApi("qos", p.aef_id);  // isShareable false
  private_api["shareableInfo"] = {{"isShareable", false}};
  auto only_c = CcfWorld::SampleApi("only-c", p.aef_id);
  only_c["shareableInfo"] = {{"isShareable", true}, {"capifProvDoms", {"c.example"}}};
  auto not_agreed = CcfWorld::SampleApi("not-agreed", p.aef_id);
  not_agreed["shareableInfo"] = {{"isShareable", true}};
  for (const json& api : {shared, private_api, only_c, not_agreed}) w.Publish(p.apf_id, api);

  Peer b{CcfId("ccf-b"), TrustDomain("b.example"), "x:1", {}, PeerRelation::kCapif6e, {}};
  b.agreement.shared_apis = {"location-query", "qos", "only-c"};
  auto apis = state.ShareableApis(b, "");
  ASSERT_TRUE(apis.ok()) << apis.status();
  ASSERT_EQ(apis->size(), 1u);
  json a = json::parse((*apis)[0]);
  EXPECT_EQ(a["apiName"], "location-query");
  EXPECT_EQ(a["ccfId"], "ccf-a");
  EXPECT_TRUE(state.ShareableApis(b, "qos")->empty());

  Peer c{CcfId("ccf-c"), TrustDomain("c.example"), "x:2", {}, PeerRelation::kCapif6e, {}};
  c.agreement.shared_apis = {"only-c"};
  EXPECT_EQ(state.ShareableApis(c, "")->size(), 1u);
}

TEST(LocalCcfStateTest, SelectsMethodsForSharedAefsAndRemembersTheGrant) {
  CcfWorld w("LocalCcfStateSelect");
  LocalCcfState state(w.LocalConfig("ccf-a"));
  auto p = w.RegisterProvider();
  auto shared = CcfWorld::SampleApi("location-query", p.aef_id, {"PKI", "OAUTH"});
  shared["shareableInfo"] = {{"isShareable", true}};
  std::string api_id = w.Publish(p.apf_id, shared)["apiId"];
  auto q = w.RegisterProvider();
  w.Publish(q.apf_id, CcfWorld::SampleApi("private", q.aef_id));  // not shareable
  Peer b{CcfId("ccf-b"), TrustDomain("b.example"), "x:1", {}, PeerRelation::kCapif6e, {}};
  b.agreement.shared_apis = {"location-query", "private"};

  auto d = state.SelectSecurityMethods(b, "inv-b1", {"OAUTH", "PKI", "PSK"},
                                       {{p.aef_id, ""}, {q.aef_id, ""}, {"aef-none", ""}});
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->size(), 3u);
  EXPECT_EQ((*d)[0].method, "PKI");  // A's priority PSK > PKI > OAUTH over the common {PKI, OAUTH}
  EXPECT_EQ((*d)[0].api_id, api_id);
  EXPECT_EQ((*d)[1].method, "");     // not shared with B
  EXPECT_EQ((*d)[2].method, "");
  auto grants = w.grants.OfInvoker("inv-b1");
  ASSERT_TRUE(grants.ok());
  ASSERT_EQ(grants->size(), 1u);
  const RemoteGrant& g = (*grants)[0];
  EXPECT_EQ(g.home_ccf_id, "ccf-b");
  EXPECT_EQ(g.aef_id, p.aef_id);
  EXPECT_EQ(g.api_id, api_id);
  EXPECT_EQ(g.selected_method, "PKI");
  EXPECT_EQ(g.granted_at, absl::FromUnixMicros(absl::ToUnixMicros(w.clock.Now())));  // kept to the µs
  // No common method: nothing granted.
  auto none = state.SelectSecurityMethods(b, "inv-b2", {"PSK"}, {{p.aef_id, ""}});
  EXPECT_EQ((*none)[0].method, "");
  EXPECT_TRUE(w.grants.OfInvoker("inv-b2")->empty());
}

// Issue 9, problem 6: a grant is made on a lease; unless the home CCF confirms it kept the
// decision, it stops counting when the lease ends and is removed.
TEST(LocalCcfStateTest, UnconfirmedGrantsVanishConfirmedOnesStay) {
  CcfWorld w("LocalCcfStateLease");
  LocalCcfState::Config config = w.LocalConfig("ccf-a");
  config.grant_lease = absl::Seconds(60);
  LocalCcfState state(std::move(config));
  auto p = w.RegisterProvider();
  auto api = CcfWorld::SampleApi("location-query", p.aef_id, {"OAUTH"});
  api["shareableInfo"] = {{"isShareable", true}};
  std::string api_id = w.Publish(p.apf_id, api)["apiId"];
  Peer b{CcfId("ccf-b"), TrustDomain("b.example"), "x:1", {}, PeerRelation::kCapif6e, {}};
  b.agreement.shared_apis = {"location-query"};
  Peer c = b;
  c.ccf_id = CcfId("ccf-c");
  for (const char* invoker : {"inv-kept", "inv-failed"}) {
    auto d = state.SelectSecurityMethods(b, invoker, {"OAUTH"}, {{p.aef_id, ""}});
    ASSERT_TRUE(d.ok() && (*d)[0].method == "OAUTH");
  }
  auto leased = w.grants.OfInvoker("inv-kept");
  ASSERT_EQ(leased->size(), 1u);
  ASSERT_TRUE((*leased)[0].lease_until.has_value());
  // Another peer cannot confirm B's grant; B can.
  ASSERT_TRUE(state.ConfirmGrants(c, "inv-kept", {{p.aef_id, api_id}}).ok());
  EXPECT_TRUE(w.grants.OfInvoker("inv-kept")->at(0).lease_until.has_value());
  ASSERT_TRUE(state.ConfirmGrants(b, "inv-kept", {{p.aef_id, api_id}}).ok());
  EXPECT_FALSE(w.grants.OfInvoker("inv-kept")->at(0).lease_until.has_value());
  ASSERT_TRUE(state.ConfirmGrants(b, "inv-kept", {{p.aef_id, api_id}}).ok());  // idempotent
  // The lease of the other one ends; the next grant request sweeps it away.
  w.clock.Advance(absl::Seconds(61));
  EXPECT_FALSE(w.grants.OfInvoker("inv-failed")->at(0).StandsAt(w.clock.Now()));
  ASSERT_TRUE(state.SelectSecurityMethods(b, "inv-new", {"OAUTH"}, {{p.aef_id, ""}}).ok());
  EXPECT_TRUE(w.grants.OfInvoker("inv-failed")->empty());
  EXPECT_EQ(w.grants.OfInvoker("inv-kept")->size(), 1u);
}

TEST(LocalCcfStateTest, SecurityInfoOnlyForThePeerOfTheAef) {
  CcfWorld w("LocalCcfStateLookup");
  LocalCcfState state(w.LocalConfig("ccf-b"));
  auto inv = w.OnboardInvoker();
  // The invoker's context names AEF aef-a1 of peer ccf-a, with PKI.
  StoredSecurityContext ctx;
  ctx.api_invoker_id = inv.id;
  ctx.notification_destination = "https://i.example/cb";
  SecurityEntry e;
  e.aef_id = "aef-a1";
  e.selected_method = "PKI";
  e.api_ids = {"api-1"};
  e.remote_ccf_id = "ccf-a";
  ctx.entries.push_back(e);
  ASSERT_TRUE(w.contexts->Write(ctx, 0, {}).ok());
  Peer a{CcfId("ccf-a"), TrustDomain("a.example"), "x:1", {}, PeerRelation::kCapif6e, {}};
  Peer c{CcfId("ccf-c"), TrustDomain("c.example"), "x:2", {}, PeerRelation::kCapif6e, {}};
  auto info = state.LookupSecurityInfo(a, inv.id, "aef-a1", "PKI");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->invoker_root_ca_pem, *w.ca.certificate().ToPem());
  EXPECT_EQ(info->authorization_info, "api-1");
  EXPECT_EQ(info->notification_destination, "https://i.example/cb");
  // Method unspecified (the asker found the invoker by ownership): whichever was selected.
  auto any = state.LookupSecurityInfo(a, inv.id, "aef-a1", "");
  ASSERT_TRUE(any.ok()) << any.status();
  EXPECT_EQ(any->method, "PKI");
  EXPECT_EQ(state.LookupSecurityInfo(c, inv.id, "aef-a1", "").status().code(),
            absl::StatusCode::kPermissionDenied);
  // C asks for the AEF registered at A: refused.
  EXPECT_EQ(state.LookupSecurityInfo(c, inv.id, "aef-a1", "PKI").status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(state.LookupSecurityInfo(a, inv.id, "aef-a1", "PSK").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(state.LookupSecurityInfo(a, "inv-none", "aef-a1", "PKI").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(LocalCcfStateTest, PeerNoticeForgetsOnlyThatPeersInvokerAndTellsTheAef) {
  CcfWorld w("LocalCcfStateNotice");
  LocalCcfState state(w.LocalConfig("ccf-a"));
  SqlNoticeOutbox outbox(w.db);
  int wakes = 0;
  std::vector<std::string> forgotten;
  state.SetNoticeHooks({/*tell_aefs=*/true, [&] { ++wakes; },
                        [&](const std::string& id) { forgotten.push_back(id); }});
  auto p = w.RegisterProvider();
  auto api = CcfWorld::SampleApi("location-query", p.aef_id);
  api["shareableInfo"] = {{"isShareable", true}};
  std::string api_id = w.Publish(p.apf_id, api)["apiId"];
  Peer b{CcfId("ccf-b"), TrustDomain("b.example"), "x:1", {}, PeerRelation::kCapif6e, {}};
  b.agreement.shared_apis = {"location-query"};
  Peer c = b;
  c.ccf_id = CcfId("ccf-c");
  c.trust_domain = TrustDomain("c.example");
  ASSERT_TRUE(state.SelectSecurityMethods(b, "inv-b1", {"PSK"}, {{p.aef_id, ""}}).ok());
  ASSERT_TRUE(state.SelectSecurityMethods(b, "inv-b2", {"PSK"}, {{p.aef_id, ""}}).ok());
  ASSERT_TRUE(state.SelectSecurityMethods(c, "inv-c1", {"PSK"}, {{p.aef_id, ""}}).ok());

  // C cannot make A forget B's invoker.
  PeerNotice off{true, "inv-b1", "n-1", 1700000000};
  ASSERT_TRUE(state.ApplyPeerNotice(c, off).ok());
  EXPECT_EQ(w.grants.OfInvoker("inv-b1")->size(), 1u);
  EXPECT_TRUE(outbox.Pending()->empty());

  ASSERT_TRUE(state.ApplyPeerNotice(b, off).ok());
  EXPECT_TRUE(w.grants.OfInvoker("inv-b1")->empty());
  EXPECT_EQ(w.grants.OfInvoker("inv-b2")->size(), 1u);
  EXPECT_EQ(w.grants.OfInvoker("inv-c1")->size(), 1u);
  EXPECT_EQ(forgotten, std::vector<std::string>{"inv-b1"});
  EXPECT_EQ(wakes, 1);
  auto pending = outbox.Pending();
  ASSERT_EQ(pending->size(), 1u);
  const OutboundNotice& n = (*pending)[0];
  EXPECT_EQ(n.kind, kNoticeAefRevoke);
  EXPECT_EQ(n.destination, p.aef_id);
  json req = json::parse(n.payload);
  EXPECT_EQ(req["revokeInfo"]["apiInvokerId"], "inv-b1");
  EXPECT_EQ(req["revokeInfo"]["aefId"], p.aef_id);
  EXPECT_EQ(req["revokeInfo"]["apiIds"], json::array({api_id}));
  EXPECT_EQ(req["revokeInfo"]["cause"], "UNEXPECTED_REASON");

  // The same notice again (the sender retries until acknowledged): nothing new.
  ASSERT_TRUE(state.ApplyPeerNotice(b, off).ok());
  EXPECT_EQ(outbox.Pending()->size(), 1u);
  // Offboarded: B cannot obtain a new grant for it; other invokers are unaffected.
  EXPECT_EQ(state.SelectSecurityMethods(b, "inv-b1", {"PSK"}, {{p.aef_id, ""}}).status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(state.SelectSecurityMethods(b, "inv-b3", {"PSK"}, {{p.aef_id, ""}}).ok());

  // A revocation naming another AEF leaves the grant; naming this AEF removes it, and a new
  // grant may be made afterwards (unlike after offboarding).
  PeerNotice other{false, "inv-b2", "n-2", 1700000000, {"aef-elsewhere"}};
  ASSERT_TRUE(state.ApplyPeerNotice(b, other).ok());
  EXPECT_EQ(w.grants.OfInvoker("inv-b2")->size(), 1u);
  PeerNotice revoke{false, "inv-b2", "n-3", 1700000000, {p.aef_id}};
  ASSERT_TRUE(state.ApplyPeerNotice(b, revoke).ok());
  EXPECT_TRUE(w.grants.OfInvoker("inv-b2")->empty());
  EXPECT_EQ(outbox.Pending()->size(), 2u);
  EXPECT_TRUE(state.SelectSecurityMethods(b, "inv-b2", {"PSK"}, {{p.aef_id, ""}}).ok());
}

// Solutions #15, #19, #24 (method 3), issuing side: everything a forwarded request must prove.
TEST(LocalCcfStateTest, ForwardedTokenNeedsTheInvokerOfThePeerItsKeyAndAnOauthGrant) {
  CcfWorld w("LocalCcfStateForwardToken");
  LocalCcfState state(w.LocalConfig("ccf-a"));
  auto p = w.RegisterProvider();
  auto oauth = CcfWorld::SampleApi("location-query", p.aef_id, {"OAUTH"});
  oauth["shareableInfo"] = {{"isShareable", true}};
  std::string oauth_id = w.Publish(p.apf_id, oauth)["apiId"];
  auto psk = CcfWorld::SampleApi("psk-query", p.aef_id, {"PSK"});
  psk["shareableInfo"] = {{"isShareable", true}};
  std::string psk_id = w.Publish(p.apf_id, psk)["apiId"];
  auto outside = CcfWorld::SampleApi("not-agreed", p.aef_id, {"OAUTH"});
  outside["shareableInfo"] = {{"isShareable", true}};
  w.Publish(p.apf_id, outside);

  // Peer B, its CA and its invoker's certificate; a CA of C issuing the same identity.
  auto b_ca = CertificateAuthority::CreateRoot(TrustDomain("b.example"), w.clock, absl::Hours(24));
  auto c_ca = CertificateAuthority::CreateRoot(TrustDomain("c.example"), w.clock, absl::Hours(24));
  ASSERT_TRUE(b_ca.ok() && c_ca.ok());
  Peer b{CcfId("ccf-b"), TrustDomain("b.example"), "x:1",
         *TrustBundle::FromPem(*b_ca->certificate().ToPem()), PeerRelation::kCapif6e, {}};
  b.agreement.shared_apis = {"location-query", "psk-query"};
  EvpKey key = *EvpKey::GenerateEcP256();
  auto invoker_id = *SpiffeId::Create(TrustDomain("b.example"), SpiffeId::Kind::kInvoker, "inv-b1");
  std::string cert = *b_ca->Issue({invoker_id, &key}, w.clock)->ToPem();
  std::string foreign_cert =
      *c_ca->IssueUncheckedForTesting({invoker_id, &key}, w.clock)->ToPem();
  auto granted = state.SelectSecurityMethods(b, "inv-b1", {"OAUTH", "PSK"},
                                             {{p.aef_id, oauth_id}, {p.aef_id, psk_id}});
  ASSERT_TRUE(granted.ok()) << granted.status();
  ASSERT_EQ((*granted)[0].method, "OAUTH");
  ASSERT_EQ((*granted)[1].method, "PSK");
  int n = 0;
  auto assertion = [&](const EvpKey& signing_key, const std::string& aud, absl::Duration life) {
    EvpKey copy = *EvpKey::FromPrivateKeyPem(*signing_key.PrivateKeyPem());
    JwsSigner signer = *JwsSigner::Create(std::move(copy), "inv-b1");
    int64_t now = absl::ToUnixSeconds(w.clock.Now());
    return *signer.Sign("JWT", {{"iss", "inv-b1"}, {"sub", "inv-b1"}, {"aud", aud},
                                {"iat", now}, {"exp", now + absl::ToInt64Seconds(life)},
                                {"jti", absl::StrCat("jti-", ++n)}});
  };
  std::string scope = "3gpp#" + p.aef_id + ":location-query";
  auto error_of = [&](const std::string& source, const std::string& s, const std::string& a,
                      const std::string& c) {
    auto t = state.ForwardToken(b, source, s, a, c);
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? t->error : "status";
  };
  EvpKey other_key = *EvpKey::GenerateEcP256();
  EXPECT_EQ(error_of("inv-b1", scope, assertion(key, "ccf-a", absl::Minutes(2)), foreign_cert),
            "invalid_client");  // not chained to B's bundle
  EXPECT_EQ(error_of("inv-b2", scope, assertion(key, "ccf-a", absl::Minutes(2)), cert),
            "invalid_client");  // the certificate names another invoker
  EXPECT_EQ(error_of("inv-b1", scope, assertion(other_key, "ccf-a", absl::Minutes(2)), cert),
            "invalid_client");  // signed by a key that is not the certificate's
  EXPECT_EQ(error_of("inv-b1", scope, assertion(key, "ccf-b", absl::Minutes(2)), cert),
            "invalid_client");  // for another audience
  EXPECT_EQ(error_of("inv-b1", scope, assertion(key, "ccf-a", absl::Minutes(10)), cert),
            "invalid_client");  // lives too long
  EXPECT_EQ(error_of("inv-b1", "3gpp#" + p.aef_id + ":psk-query",
                     assertion(key, "ccf-a", absl::Minutes(2)), cert),
            "invalid_scope");  // PSK, not OAUTH, was granted for it
  EXPECT_EQ(error_of("inv-b1", "3gpp#" + p.aef_id + ":not-agreed",
                     assertion(key, "ccf-a", absl::Minutes(2)), cert),
            "invalid_scope");  // outside the agreement: never granted
  std::string good = assertion(key, "ccf-a", absl::Minutes(2));
  auto token = state.ForwardToken(b, "inv-b1", scope, good, cert);
  ASSERT_TRUE(token.ok() && token->error.empty()) << token->error_description;
  JwtValidator validator({"at+jwt", "ccf-a", p.aef_id, true, absl::Seconds(30)}, w.clock);
  auto jwt = validator.Verify(token->access_token, *JwkSet::FromJson(state.JwksJson()));
  ASSERT_TRUE(jwt.ok()) << jwt.status();
  EXPECT_EQ(jwt->claims["client_id"], "inv-b1");
  EXPECT_EQ(error_of("inv-b1", scope, good, cert), "invalid_grant");  // replayed jti
  // RFC 7523 requires neither kid nor typ: an assertion without them is accepted; a typ that
  // is not JWT, or a kid that is not a string, is refused.
  auto raw = [&](const json& header) {
    int64_t now = absl::ToUnixSeconds(w.clock.Now());
    return SignRawJws(key, header.dump(),
                      json{{"iss", "inv-b1"},
                           {"sub", "inv-b1"},
                           {"aud", "ccf-a"},
                           {"iat", now},
                           {"exp", now + 120},
                           {"jti", absl::StrCat("raw-", ++n)}}
                          .dump());
  };
  auto bare = state.ForwardToken(b, "inv-b1", scope, raw({{"alg", "ES256"}}), cert);
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->error, "") << bare->error_description;
  EXPECT_EQ(error_of("inv-b1", scope, raw({{"alg", "ES256"}, {"typ", "at+jwt"}}), cert),
            "invalid_client");
  EXPECT_EQ(error_of("inv-b1", scope, raw({{"alg", "ES256"}, {"kid", 7}}), cert), "invalid_client");
  // Issue 9, problem 5: a restarted CCF (new state over the same database) still refuses it.
  {
    SqlUsedAssertions reopened_store(w.db);
    LocalCcfState::Config config = w.LocalConfig("ccf-a");
    config.used_assertions = &reopened_store;
    LocalCcfState restarted(std::move(config));
    auto again = restarted.ForwardToken(b, "inv-b1", scope, good, cert);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->error, "invalid_grant");
  }

  // After B's offboarding notice: refused whatever it presents.
  ASSERT_TRUE(state.ApplyPeerNotice(b, {true, "inv-b1", "n-1", 0}).ok());
  EXPECT_EQ(error_of("inv-b1", scope, assertion(key, "ccf-a", absl::Minutes(2)), cert),
            "invalid_client");
}

TEST(LocalCcfStateTest, OwnershipAndJwks) {
  CcfWorld w("LocalCcfStateOwnership");
  LocalCcfState state(w.LocalConfig("ccf-a"));
  auto inv = w.OnboardInvoker();
  EXPECT_TRUE(*state.OwnsInvoker(inv.id));
  EXPECT_FALSE(*state.OwnsInvoker("inv-unknown"));
  auto jwks = JwkSet::FromJson(state.JwksJson());
  ASSERT_TRUE(jwks.ok()) << jwks.status();
  EXPECT_EQ(jwks->size(), 1u);
}

}  // namespace
}  // namespace capif

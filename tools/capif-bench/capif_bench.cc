// capif-bench: micro-benchmarks of the hot paths (Google Benchmark). Run:
//   bazel run -c opt //tools/capif-bench -- --benchmark_min_time=1
// Numbers are for comparison with DESIGN.md "Performance"; tests never assert timings.
#include <benchmark/benchmark.h>

#include <grpcpp/client_context.h>

#include "absl/strings/str_cat.h"
#include "ccf/testing/ccf_world.h"
#include "common/aef_psk.h"
#include "common/clock.h"
#include "common/fake_clock.h"
#include "common/certificate_authority.h"
#include "common/x509_cert.h"
#include "common/jws.h"
#include "federation/bus_server.h"
#include "federation/peer_client.h"
#include "federation/testing/test_domains.h"
#include "ccf/core/local_ccf_state.h"
#include "sdk/aef/aef_server.h"
#include "sdk/invoker/aef_client.h"

#include <openssl/ssl.h>

#include "absl/strings/escaping.h"

namespace capif {
namespace {

using nlohmann::json;

json Claims() {
  int64_t now = absl::ToUnixSeconds(absl::Now());
  return {{"iss", "ccf-a"}, {"sub", "inv-1"}, {"client_id", "inv-1"}, {"aud", "aef-1"},
          {"scope", "3gpp#aef-1:location-query"}, {"iat", now}, {"exp", now + 3600},
          {"jti", "j"}};
}

void BM_JwtSign(benchmark::State& state) {
  auto signer = *JwsSigner::Create(*EvpKey::GenerateEcP256(), "k1");
  json claims = Claims();
  for (auto _ : state) benchmark::DoNotOptimize(signer.Sign("at+jwt", claims));
}
BENCHMARK(BM_JwtSign);

void BM_JwtVerify(benchmark::State& state) {
  auto signer = *JwsSigner::Create(*EvpKey::GenerateEcP256(), "k1");
  JwkSet keys;
  (void)keys.Add("k1", signer.key());
  std::string token = *signer.Sign("at+jwt", Claims());
  JwtValidator validator({"at+jwt", "ccf-a", "aef-1", true, absl::Seconds(30)}, Clock::Real());
  for (auto _ : state) benchmark::DoNotOptimize(validator.Verify(token, keys));
}
BENCHMARK(BM_JwtVerify);

void BM_AefPskDerive(benchmark::State& state) {
  SecretBytes master = SecretBytes::Random(48);
  std::string sid(32, 'S');
  for (auto _ : state) {
    benchmark::DoNotOptimize(DeriveAefPsk(master, "aef-1.operator-a.example:8443/api", sid));
  }
}
BENCHMARK(BM_AefPskDerive);

// One Hello over an established mutual-TLS channel, in process on 127.0.0.1.
void BM_BusHello(benchmark::State& state) {
  TestDomains domains(Clock::Real());
  BusIdentity a = domains.Identity("a.example", "ccf-a");
  BusIdentity b = domains.Identity("b.example", "ccf-b");
  auto dir = *PeerDirectory::Create({domains.PeerFor("b.example", "ccf-b", "unused:1")});
  auto server = *BusServer::Start(a, dir, "127.0.0.1:0", Clock::Real());
  auto client = PeerClient::Create(
      b, domains.PeerFor("a.example", "ccf-a", absl::StrCat("127.0.0.1:", server->port())),
      Clock::Real());
  if (!client->Hello(absl::Seconds(10)).ok()) state.SkipWithError("no Hello");
  for (auto _ : state) benchmark::DoNotOptimize(client->Hello(absl::Seconds(10)));
}
BENCHMARK(BM_BusHello)->UseRealTime();

// The token endpoint's handler: secret check, scope check against the stored security context,
// ES256 signing (SQLite reads included, no network).
void BM_TokenEndpoint(benchmark::State& state) {
  CcfWorld w("bench-token");
  auto p = w.RegisterProvider();
  w.Publish(p.apf_id, CcfWorld::SampleApi("location-query", p.aef_id, {"OAUTH"}));
  auto inv = w.OnboardInvoker();
  RestRequest put = w.As("invoker", inv.id,
                         json{{"notificationDestination", "https://i.example/cb"},
                              {"securityInfo", {{{"aefId", p.aef_id},
                                                 {"prefSecurityMethods", {"OAUTH"}}}}}});
  put.path_params = {inv.id};
  if (!w.security_api->Create(put).ok()) state.SkipWithError("no security context");
  RestRequest token = w.As("invoker", inv.id);
  token.path_params = {inv.id};
  token.headers.emplace("content-type", "application/x-www-form-urlencoded");
  token.body = absl::StrCat("grant_type=client_credentials&client_id=", inv.id,
                            "&client_secret=", inv.onboarding_secret, "&scope=3gpp%23", p.aef_id,
                            "%3Alocation-query");
  for (auto _ : state) {
    auto r = w.security_api->Token(token);
    if (!r.ok() || r->status != 200) state.SkipWithError("token refused");
  }
}
BENCHMARK(BM_TokenEndpoint);

// Pieces of the forwarded-token check: a PEM invoker certificate parsed, verified against a
// one-root bundle, and its public key extracted (Arg 0, 1, 2: how far to go).
void BM_InvokerCertificate(benchmark::State& state) {
  FakeClock clock;
  auto ca = *CertificateAuthority::CreateRoot(TrustDomain("b.example"), clock, absl::Hours(24));
  auto bundle = *TrustBundle::FromPem(*ca.certificate().ToPem());
  EvpKey key = *EvpKey::GenerateEcP256();
  auto id = *SpiffeId::Create(TrustDomain("b.example"), SpiffeId::Kind::kInvoker, "inv-b1");
  std::string pem = *ca.Issue({id, &key}, clock)->ToPem();
  for (auto _ : state) {
    auto chain = X509Cert::ChainFromPem(pem);
    if (state.range(0) >= 1) benchmark::DoNotOptimize(bundle.Verify(*chain, clock.Now()));
    if (state.range(0) >= 2) benchmark::DoNotOptimize((*chain)[0].PublicKey());
  }
}
BENCHMARK(BM_InvokerCertificate)->Arg(0)->Arg(1)->Arg(2);

// #15/#24 method 3, the AEFs' CCF (A) answering a forwarded token request, without the network:
// B's invoker certificate checked against B's bundle, the client assertion verified (ES256),
// the jti replay cache, the OAUTH grant and API looked up in SQLite, the token signed. Each
// iteration uses a fresh assertion (made outside the timing).
void BM_ForwardedTokenAtA(benchmark::State& state) {
  CcfWorld w("bench-forwarded");
  LocalCcfState a(w.LocalConfig("ccf-a"));
  auto p = w.RegisterProvider();
  auto api = CcfWorld::SampleApi("location-query", p.aef_id, {"OAUTH"});
  api["shareableInfo"] = {{"isShareable", true}};
  w.Publish(p.apf_id, api);
  auto b_ca = *CertificateAuthority::CreateRoot(TrustDomain("b.example"), w.clock, absl::Hours(24));
  Peer b{CcfId("ccf-b"), TrustDomain("b.example"), "x:1",
         *TrustBundle::FromPem(*b_ca.certificate().ToPem()), PeerRelation::kCapif6e, {}};
  b.agreement.shared_apis = {"location-query"};
  EvpKey key = *EvpKey::GenerateEcP256();
  auto id = *SpiffeId::Create(TrustDomain("b.example"), SpiffeId::Kind::kInvoker, "inv-b1");
  std::string cert = *b_ca.Issue({id, &key}, w.clock)->ToPem();
  if (!a.SelectSecurityMethods(b, "inv-b1", {"OAUTH"}, {{p.aef_id, ""}}).ok()) {
    state.SkipWithError("no grant");
  }
  JwsSigner signer = *JwsSigner::Create(*EvpKey::FromPrivateKeyPem(*key.PrivateKeyPem()), "k");
  std::string scope = "3gpp#" + p.aef_id + ":location-query";
  // The used jtis are durable and the benchmark reruns this function on the same database: each
  // run has its own prefix.
  static int run = 0;
  ++run;
  int64_t n = 0;
  for (auto _ : state) {
    state.PauseTiming();
    int64_t now = absl::ToUnixSeconds(w.clock.Now());
    std::string assertion = *signer.Sign("JWT", {{"iss", "inv-b1"}, {"sub", "inv-b1"},
                                                 {"aud", "ccf-a"}, {"iat", now},
                                                 {"exp", now + 120},
                                                 {"jti", absl::StrCat("j", run, "-", ++n)}});
    state.ResumeTiming();
    auto t = a.ForwardToken(b, "inv-b1", scope, assertion, cert);
    if (!t.ok() || !t->error.empty()) state.SkipWithError("refused");
  }
}
BENCHMARK(BM_ForwardedTokenAtA);

// CAPIF-2e with TLS-PSK: one request on a fresh connection per iteration (handshake included),
// from sdk/invoker's client to an sdk/aef server whose key is cached (the CCF, a stub here, is
// asked once). Arg: TLS version (13 = TLS 1.3 external PSK, 12 = TLS 1.2 PSK suite).
void BM_AefPskRequest(benchmark::State& state) {
  TestDomains domains(Clock::Real());
  std::string ca = *domains.Ca("a.example").certificate().ToPem();
  auto roots = *TrustBundle::FromPem(ca);
  auto ccf_cred = domains.Issue("a.example", "spiffe://a.example/ccf/ccf-a");
  auto ccf = *HttpsServer::Create({ccf_cred.chain_pem, ccf_cred.key_pem, roots}, {});
  std::string psk(32, '\x5a');
  ccf->Route("GET", "/capif-security/v1/trustedInvokers/([^/]+)", [&](const RestRequest&) {
    return absl::StatusOr<RestResponse>(RestResponse::Json(
        200, {{"securityInfo", {{{"aefId", "aef-1"}, {"selSecurityMethod", "PSK"},
                                  {"authenticationInfo", absl::BytesToHexString(psk)}}}}}));
  });
  if (!ccf->Start().ok()) state.SkipWithError("no CCF stub");
  auto aef_cred = domains.Issue("a.example", "spiffe://a.example/aef/aef-1");
  AefOptions o;
  o.aef_id = "aef-1";
  o.ccf_api_root = absl::StrCat("https://127.0.0.1:", ccf->port());
  o.ca_pem = ca;
  o.certificate_pem = aef_cred.chain_pem;
  o.private_key_pem = aef_cred.key_pem;
  o.api_name = "location-query";
  auto aef = *AefServer::Create(std::move(o));
  aef->Route("GET", "/x", [](const RestRequest&, const AefCaller& c) {
    return absl::StatusOr<RestResponse>(RestResponse::Json(200, {{"servedTo", c.invoker_id}}));
  });
  if (!aef->Start().ok()) state.SkipWithError("no AEF");
  int version = state.range(0) == 12 ? TLS1_2_VERSION : 0;
  for (auto _ : state) {
    auto r = AefGetWithPsk("127.0.0.1", aef->port(), "inv-1", SecretBytes(psk), "/x", version);
    if (!r.ok() || r->status != 200) state.SkipWithError("PSK request failed");
  }
  aef->Stop();
  ccf->Stop();
}
BENCHMARK(BM_AefPskRequest)->Arg(13)->Arg(12)->UseRealTime();

}  // namespace
}  // namespace capif

BENCHMARK_MAIN();

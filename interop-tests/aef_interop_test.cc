// CAPIF-2e with clients nobody here wrote: the sample AEF (sdk/aef) behind a real ccfd, reached
// by `openssl s_client` with TLS-PSK (TLS 1.2 and 1.3) and with an invoker certificate, by our
// invoker SDK with an OAuth token, and the whole onboarding-to-token flow done with `curl`.
// Revocation reaches the AEF through its AEF Security API.
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/evp_key.h"
#include "common/file_io.h"
#include "common/port_reservation.h"
#include "common/subprocess.h"
#include "common/testing/test_paths.h"
#include "common/x509_cert.h"
#include "interop-tests/ccfd_fixture.h"
#include "interop-tests/schema_check.h"
#include "net/https_client.h"
#include "net/https_server.h"
#include "sdk/invoker/aef_client.h"
#include "sdk/invoker/invoker_client.h"
#include "sdk/provider/provider_client.h"

namespace capif {
namespace {

using nlohmann::json;

constexpr absl::Duration kWait = absl::Seconds(30);

class AefInteropTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ccf_ = new CcfdProcess("aef-interop", "a");
    dir_ = new std::string(TestTmpDir("aef-interop-files"));
    ASSERT_TRUE(MakeDirectories(*dir_, 0700).ok());
    EvpKey key = *EvpKey::GenerateEcP256();
    auto provider = RegisterApiProvider(ccf_->api_root(), ccf_->ca_pem(),
                                        ccf_->EnrollmentToken("provider"), key);
    ASSERT_TRUE(provider.ok()) << provider.status();
    aef_id_ = new std::string(provider->aef_id);
    ASSERT_TRUE(WriteFileAtomic(*dir_ + "/amf.pem", provider->amf_certificate_pem).ok());
    ASSERT_TRUE(WriteFileAtomic(*dir_ + "/aef.pem", provider->aef_certificate_pem).ok());
    ASSERT_TRUE(WriteFileAtomic(*dir_ + "/aef.key",
                                std::string((*key.PrivateKeyPem()).Reveal(InsecureSecretAccess())),
                                0600).ok());
    ASSERT_TRUE(WriteFileAtomic(*dir_ + "/ca.pem", ccf_->ca_pem()).ok());
    // The AEF's port is known before it starts (its API is published first, for --api-id):
    // reserved until the test binary exits.
    auto port = PortReservation::Any();
    ASSERT_TRUE(port.ok()) << port.status();
    aef_port_ = port->port();
    port_ = new PortReservation(*std::move(port));
    auto p = PublishServiceApi(ccf_->api_root(), ccf_->ca_pem(), *provider, key,
                               SimpleServiceApi("location-query", *aef_id_, {"PSK", "PKI", "OAUTH"},
                                                "127.0.0.1", aef_port_));
    ASSERT_TRUE(p.ok()) << p.status();
    api_id_ = new std::string((*p)["apiId"]);
    auto aef = Subprocess::Start(
        {Runfile("tools/capif-sample-aef/capif-sample-aef"), "--ccf", ccf_->api_root(), "--ca",
         *dir_ + "/ca.pem", "--cert", *dir_ + "/aef.pem", "--key", *dir_ + "/aef.key", "--aef-id",
         *aef_id_, "--listen", absl::StrCat("127.0.0.1:", aef_port_), "--api-id", *api_id_});
    ASSERT_TRUE(aef.ok()) << aef.status();
    aef_ = (*aef).release();
    auto line = aef_->ReadStdoutLine(kWait);
    ASSERT_TRUE(line.ok()) << aef_->stderr_text();
  }
  static void TearDownTestSuite() {
    if (aef_ != nullptr) {
      aef_->Signal(SIGTERM);
      aef_->Wait(kWait).IgnoreError();
      delete aef_;
    }
    delete ccf_;
    delete dir_;
    delete aef_id_;
    delete api_id_;
  }

  // An invoker onboarded at the CCF with `method` selected for the sample AEF.
  struct Onboarded {
    std::unique_ptr<CapifInvoker> invoker;
    SecurityContext context;
  };
  Onboarded OnboardWith(const std::string& method) {
    auto invoker = CapifInvoker::Onboard(ccf_->api_root(), ccf_->ca_pem(),
                                         ccf_->EnrollmentToken("invoker"), "https://i.example/cb");
    EXPECT_TRUE(invoker.ok()) << invoker.status();
    auto apis = (*invoker)->Discover({{"api-name", "location-query"}});
    EXPECT_TRUE(apis.ok() && apis->size() == 1u);
    auto ctx = (*invoker)->RequestSecurityMethods(*apis, {method});
    EXPECT_TRUE(ctx.ok()) << ctx.status();
    return {*std::move(invoker), *std::move(ctx)};
  }

  // `openssl s_client` with `args`, sending one HTTP request; its output.
  static std::string SClient(const std::string& args) {
    std::string cmd = absl::StrCat(
        "printf 'GET /location-query/v1/position?ue=ue-1 HTTP/1.1\\r\\nHost: aef\\r\\n"
        "Connection: close\\r\\n\\r\\n' | openssl s_client -connect 127.0.0.1:", aef_port_,
        " -ign_eof -quiet ", args, " 2>&1");
    auto r = RunToCompletion({"/bin/bash", "-c", cmd}, kWait);
    return r.ok() ? r->out : r.status().ToString();
  }

  static std::string Hex(const SecretBytes& s) {
    return absl::BytesToHexString(s.Reveal(InsecureSecretAccess()));
  }

  static CcfdProcess* ccf_;
  static Subprocess* aef_;
  static std::string* dir_;
  static std::string* aef_id_;
  static std::string* api_id_;
  static PortReservation* port_;
  static int aef_port_;
};

CcfdProcess* AefInteropTest::ccf_ = nullptr;
Subprocess* AefInteropTest::aef_ = nullptr;
std::string* AefInteropTest::dir_ = nullptr;
std::string* AefInteropTest::aef_id_ = nullptr;
std::string* AefInteropTest::api_id_ = nullptr;
PortReservation* AefInteropTest::port_ = nullptr;
int AefInteropTest::aef_port_ = 0;

TEST_F(AefInteropTest, OpensslTlsPskReachesTheAefAndAWrongKeyOrIdentityDoesNot) {
  Onboarded o = OnboardWith("PSK");
  ASSERT_EQ(o.context.aef_psks.count(*aef_id_), 1u);
  std::string psk = Hex(o.context.aef_psks[*aef_id_]);
  std::string id = o.invoker->api_invoker_id();
  for (const char* version : {"-tls1_2", "-tls1_3"}) {
    std::string out = SClient(absl::StrCat(version, " -psk ", psk, " -psk_identity ", id));
    EXPECT_TRUE(absl::StrContains(out, "HTTP/1.1 200")) << version << ": " << out;
    EXPECT_TRUE(absl::StrContains(out, absl::StrCat("\"servedTo\":\"", id, "\""))) << out;
    EXPECT_TRUE(absl::StrContains(out, "\"securityMethod\":\"PSK\"")) << out;
    std::string wrong = psk;
    wrong[0] = wrong[0] == '0' ? '1' : '0';
    std::string bad_key = SClient(absl::StrCat(version, " -psk ", wrong, " -psk_identity ", id));
    EXPECT_FALSE(absl::StrContains(bad_key, "HTTP/1.1 200")) << version << ": " << bad_key;
    std::string bad_id = SClient(absl::StrCat(version, " -psk ", psk, " -psk_identity inv-nobody"));
    EXPECT_FALSE(absl::StrContains(bad_id, "HTTP/1.1 200")) << version << ": " << bad_id;
  }
  // Our own CAPIF-2e client (sdk/invoker) too, over TLS 1.3 and 1.2; a wrong key fails.
  for (int version : {0, TLS1_2_VERSION}) {
    auto r = AefGetWithPsk("127.0.0.1", aef_port_, id, o.context.aef_psks[*aef_id_],
                           "/location-query/v1/position?ue=ue-2", version);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(json::parse(r->body)["securityMethod"], "PSK");
    std::string flipped(o.context.aef_psks[*aef_id_].Reveal(InsecureSecretAccess()));
    flipped[0] ^= 1;
    EXPECT_EQ(AefGetWithPsk("127.0.0.1", aef_port_, id, SecretBytes(flipped),
                            "/location-query/v1/position?ue=ue-2", version)
                  .status()
                  .code(),
              absl::StatusCode::kUnavailable);
  }
  // Offboarded: the CCF tells the AEF (revoke-authorization), which drops the key; the CCF
  // no longer has one to give, so the handshake fails.
  ASSERT_TRUE(o.invoker->Offboard().ok());
  ASSERT_TRUE(aef_->WaitForStderr(absl::StrCat("authorization of ", id, " revoked"), kWait).ok());
  std::string after = SClient(absl::StrCat("-tls1_3 -psk ", psk, " -psk_identity ", id));
  EXPECT_FALSE(absl::StrContains(after, "HTTP/1.1 200")) << after;
}

// Issue 9, problem 4: renegotiating PSK with /update replaces the AEFPSK; the AEF that cached
// the old key is told (revoke-authorization), so the new key works and the old one no longer does.
TEST_F(AefInteropTest, PskRenegotiatedWithUpdateReplacesTheKeyAtTheAef) {
  Onboarded o = OnboardWith("PSK");
  std::string id = o.invoker->api_invoker_id();
  std::string old_psk = Hex(o.context.aef_psks[*aef_id_]);
  std::string first = SClient(absl::StrCat("-tls1_3 -psk ", old_psk, " -psk_identity ", id));
  ASSERT_TRUE(absl::StrContains(first, "HTTP/1.1 200")) << first;  // the AEF now caches it
  auto apis = o.invoker->Discover({{"api-name", "location-query"}});
  ASSERT_TRUE(apis.ok());
  auto renewed = o.invoker->UpdateSecurityMethods(*apis, {"PSK"});
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  ASSERT_EQ(renewed->service_security["securityInfo"].size(), 1u)
      << "the new entry replaces the old one: " << renewed->service_security.dump();
  std::string new_psk = Hex(renewed->aef_psks[*aef_id_]);
  ASSERT_NE(new_psk, old_psk);
  ASSERT_TRUE(aef_->WaitForStderr(absl::StrCat("authorization of ", id, " revoked"), kWait).ok());
  std::string with_new = SClient(absl::StrCat("-tls1_3 -psk ", new_psk, " -psk_identity ", id));
  EXPECT_TRUE(absl::StrContains(with_new, "HTTP/1.1 200")) << with_new;
  std::string with_old = SClient(absl::StrCat("-tls1_3 -psk ", old_psk, " -psk_identity ", id));
  EXPECT_FALSE(absl::StrContains(with_old, "HTTP/1.1 200")) << with_old;
  // Issue 9, problem 7: at rest the AEFPSK is sealed: neither its bytes nor its hex are in any
  // file of the database.
  for (const char* file : {"/data/ccf.db", "/data/ccf.db-wal"}) {
    auto bytes = ReadFile(ccf_->dir() + file, 64 << 20);
    if (std::string(file).find("-wal") != std::string::npos && !bytes.ok()) continue;  // none now
    ASSERT_TRUE(bytes.ok()) << file << ": " << bytes.status();
    EXPECT_GT(bytes->size(), 0u);
    for (const SecretBytes* key : {&renewed->aef_psks[*aef_id_]}) {
      std::string raw(key->Reveal(InsecureSecretAccess()));
      EXPECT_FALSE(absl::StrContains(*bytes, raw)) << file;
      EXPECT_FALSE(absl::StrContains(*bytes, Hex(*key))) << file;
    }
    EXPECT_FALSE(absl::StrContains(*bytes, old_psk)) << file;
  }
}

TEST_F(AefInteropTest, OpensslWithTheInvokerCertificateReachesAPkiAefAForeignOneDoesNot) {
  Onboarded o = OnboardWith("PKI");
  std::string id = o.invoker->api_invoker_id();
  std::string cert = *dir_ + "/" + id + ".pem", key = *dir_ + "/" + id + ".key";
  ASSERT_TRUE(WriteFileAtomic(cert, o.invoker->certificate_pem()).ok());
  ASSERT_TRUE(WriteFileAtomic(key, std::string((*o.invoker->key().PrivateKeyPem())
                                                   .Reveal(InsecureSecretAccess())), 0600).ok());
  std::string out = SClient(absl::StrCat("-cert ", cert, " -key ", key));
  EXPECT_TRUE(absl::StrContains(out, "HTTP/1.1 200")) << out;
  auto sdk = AefGetWithCertificate(
      absl::StrCat("https://127.0.0.1:", aef_port_, "/location-query/v1/position?ue=ue-3"),
      "spiffe://operator-a.example/aef/" + *aef_id_, ccf_->ca_pem(), o.invoker->certificate_pem(),
      *o.invoker->key().PrivateKeyPem());
  ASSERT_TRUE(sdk.ok()) << sdk.status();
  EXPECT_EQ(sdk->status, 200) << sdk->body;
  EXPECT_TRUE(absl::StrContains(out, "\"securityMethod\":\"PKI\"")) << out;
  // The same identity certified by a CA of the same name that is not the domain's.
  std::string pki = Runfile("tools/capif-pki/capif-pki");
  std::string forged = *dir_ + "/forged-" + id;
  auto ca = RunToCompletion({pki, "init-domain", "--trust-domain", "operator-a.example", "--out",
                             forged + "/ca"}, kWait);
  ASSERT_TRUE(ca.ok() && ca->exit_code == 0) << (ca.ok() ? ca->err : "");
  auto leaf = RunToCompletion({pki, "issue", "--ca", forged + "/ca", "--spiffe-id",
                               "spiffe://operator-a.example/invoker/" + id, "--out",
                               forged + "/leaf"}, kWait);
  ASSERT_TRUE(leaf.ok() && leaf->exit_code == 0) << (leaf.ok() ? leaf->err : "");
  std::string refused = SClient(absl::StrCat("-cert ", forged, "/leaf/cert.pem -key ", forged,
                                             "/leaf/key.pem"));
  EXPECT_FALSE(absl::StrContains(refused, "HTTP/1.1 200")) << refused;
  EXPECT_TRUE(absl::StrContains(refused, "HTTP/1.1 401")) << refused;
}

TEST_F(AefInteropTest, OauthTokenIsCheckedAndRevocationReachesTheAef) {
  Onboarded o = OnboardWith("OAUTH");
  std::string id = o.invoker->api_invoker_id();
  auto token = o.invoker->RequestToken("3gpp#" + *aef_id_ + ":location-query");
  ASSERT_TRUE(token.ok()) << token.status();
  HttpsClient::Options opts;
  opts.ca_pem = ccf_->ca_pem();
  opts.expected_peer_uri = "spiffe://operator-a.example/aef/" + *aef_id_;  // the AEF's identity
  auto client = *HttpsClient::Create(opts);
  std::string url = absl::StrCat("https://127.0.0.1:", aef_port_, "/location-query/v1/position?ue=u2");
  auto call = [&](const std::string& bearer) {
    auto r = client->Request("GET", url, "", "", {"Authorization: Bearer " + bearer});
    return r.ok() ? static_cast<int>(r->status) : -1;
  };
  EXPECT_EQ(call(token->token), 200);
  auto sdk = AefGetWithToken(url, "spiffe://operator-a.example/aef/" + *aef_id_, ccf_->ca_pem(),
                             token->token);
  ASSERT_TRUE(sdk.ok()) << sdk.status();
  EXPECT_EQ(sdk->status, 200);
  std::string tampered = token->token;
  tampered[tampered.size() / 2] = tampered[tampered.size() / 2] == 'A' ? 'B' : 'A';
  EXPECT_EQ(call(tampered), 401);
  EXPECT_EQ(call("not-a-jwt"), 401);
  // A server naming another identity is refused by the client.
  opts.expected_peer_uri = "spiffe://operator-a.example/aef/someone-else";
  auto strict = *HttpsClient::Create(opts);
  EXPECT_FALSE(strict->Request("GET", url, "", "", {"Authorization: Bearer " + token->token}).ok());
  // The invoker gives up its security context: the AEF is told and refuses the unexpired token.
  ASSERT_TRUE(o.invoker->DeleteSecurityContext().ok());
  ASSERT_TRUE(aef_->WaitForStderr(absl::StrCat("authorization of ", id, " revoked"), kWait).ok());
  EXPECT_EQ(call(token->token), 403);
}

// The AEF Security API answers only the AEF's CCF, and checks what it is sent.
TEST_F(AefInteropTest, AefSecurityApiIsForTheCcfOnly) {
  std::string url = absl::StrCat("https://127.0.0.1:", aef_port_, "/aef-security/v1/revoke-authorization");
  auto as = [&](const std::string& cert, const std::string& key) {
    HttpsClient::Options o;
    o.ca_pem = ccf_->ca_pem();
    o.client_cert_pem = *ReadFile(cert);
    o.client_key_pem = SecretBytes(*ReadFile(key));
    o.expected_peer_uri = "spiffe://operator-a.example/aef/" + *aef_id_;
    return *HttpsClient::Create(std::move(o));
  };
  auto ccf = as(ccf_->dir() + "/pki/ccf/cert.pem", ccf_->dir() + "/pki/ccf/key.pem");
  auto status = [&](HttpsClient& c, const std::string& body) {
    auto r = c.Request("POST", url, body, "application/json");
    return r.ok() ? static_cast<int>(r->status) : -1;
  };
  EXPECT_EQ(status(*ccf, "{}"), 400);
  EXPECT_EQ(status(*ccf, "not json"), 400);
  EXPECT_EQ(status(*ccf, R"({"revokeInfo": {"apiInvokerId": "../x"}, "supportedFeatures": "0"})"), 400);
  EXPECT_EQ(status(*ccf, R"({"revokeInfo": {"apiInvokerId": "inv-x", "apiIds": ["a"],
                              "cause": "UNEXPECTED_REASON"}, "supportedFeatures": "0"})"),
            200);
  // The AEF's own certificate (not a CCF) and no certificate: 403.
  auto self = as(*dir_ + "/aef.pem", *dir_ + "/aef.key");
  EXPECT_EQ(status(*self, R"({"revokeInfo": {"apiInvokerId": "inv-x"}, "supportedFeatures": "0"})"), 403);
  HttpsClient::Options anon_opts;
  anon_opts.ca_pem = ccf_->ca_pem();
  anon_opts.expected_peer_uri = "spiffe://operator-a.example/aef/" + *aef_id_;
  auto anon = *HttpsClient::Create(anon_opts);
  EXPECT_EQ(status(*anon, R"({"revokeInfo": {"apiInvokerId": "inv-x"}, "supportedFeatures": "0"})"), 403);
}

// Onboarding to token with curl and openssl only, against ccfd.
TEST_F(AefInteropTest, CurlDoesOnboardingToToken) {
  std::string d = *dir_ + "/curl";
  ASSERT_TRUE(MakeDirectories(d, 0700).ok());
  auto sh = [&](const std::string& cmd) {
    auto r = RunToCompletion({"/bin/bash", "-c", "set -e; cd " + d + "; " + cmd}, kWait);
    EXPECT_TRUE(r.ok() && r->exit_code == 0) << cmd << ": " << (r.ok() ? r->err : "");
    return r.ok() ? r->out : "";
  };
  sh("openssl ecparam -name prime256v1 -genkey -noout -out key.pem && "
     "openssl req -new -key key.pem -subj /CN=curl-invoker -out csr.pem");
  json onboard = {{"notificationDestination", "https://curl.example/cb"},
                  {"onboardingInformation", {{"apiInvokerPublicKey", *ReadFile(d + "/csr.pem")}}}};
  ASSERT_TRUE(WriteFileAtomic(d + "/onboard.json", onboard.dump()).ok());
  std::string base = absl::StrCat("curl -sS --fail-with-body --cacert ", *dir_, "/ca.pem ");
  json enrolled = json::parse(sh(absl::StrCat(
      base, "-H 'Authorization: Bearer ", ccf_->EnrollmentToken("invoker"),
      "' -H 'Content-Type: application/json' --data @onboard.json ", ccf_->api_root(),
      "/api-invoker-management/v1/onboardedInvokers")));
  std::string id = enrolled["apiInvokerId"];
  ASSERT_TRUE(WriteFileAtomic(d + "/cert.pem",
                              enrolled["onboardingInformation"]["apiInvokerCertificate"]).ok());
  std::string secret = enrolled["onboardingInformation"]["onboardingSecret"];
  std::string mtls = base + "--cert cert.pem --key key.pem ";
  json apis = json::parse(sh(absl::StrCat(mtls, "'", ccf_->api_root(),
                                          "/service-apis/v1/allServiceAPIs?api-invoker-id=", id,
                                          "&api-name=location-query'")));
  ASSERT_EQ(apis["serviceAPIDescriptions"].size(), 1u);
  json security = {{"notificationDestination", "https://curl.example/cb"},
                   {"securityInfo", {{{"aefId", *aef_id_}, {"prefSecurityMethods", {"OAUTH"}}}}}};
  ASSERT_TRUE(WriteFileAtomic(d + "/security.json", security.dump()).ok());
  json granted = json::parse(sh(absl::StrCat(
      mtls, "-X PUT -H 'Content-Type: application/json' --data @security.json ", ccf_->api_root(),
      "/capif-security/v1/trustedInvokers/", id)));
  EXPECT_EQ(granted["securityInfo"][0]["selSecurityMethod"], "OAUTH");
  absl::Status valid =
      MatchesSpec(granted, "TS29222_CAPIF_Security_API.yaml#/components/schemas/ServiceSecurity");
  EXPECT_TRUE(valid.ok()) << valid;
  // The AEF reads its access control policy for the API (CAPIF_Access_Control_Policy_API).
  std::string api_id = apis["serviceAPIDescriptions"][0]["apiId"];
  json acl = json::parse(
      sh(absl::StrCat(base, "--cert ", *dir_, "/aef.pem --key ", *dir_, "/aef.key '",
                      ccf_->api_root(), "/access-control-policy/v1/accessControlPolicyList/",
                      api_id, "?aef-id=", *aef_id_, "&api-invoker-id=", id, "'")));
  ASSERT_EQ(acl["apiInvokerPolicies"].size(), 1u) << acl.dump();
  EXPECT_EQ(acl["apiInvokerPolicies"][0]["apiInvokerId"], id);
  valid = MatchesSpec(acl,
                      "TS29222_CAPIF_Access_Control_Policy_API.yaml#/components/schemas/"
                      "AccessControlPolicyList");
  EXPECT_TRUE(valid.ok()) << valid;
  // PATCH of the onboarding resource (JSON Merge Patch), by curl as well.
  json patched = json::parse(
      sh(absl::StrCat(mtls,
                      "-X PATCH -H 'Content-Type: application/merge-patch+json' --data "
                      "'{\"notificationDestination\": \"https://curl.example/cb2\"}' ",
                      ccf_->api_root(), "/api-invoker-management/v1/onboardedInvokers/", id)));
  EXPECT_EQ(patched["notificationDestination"], "https://curl.example/cb2");
  EXPECT_EQ(patched["onboardingInformation"]["apiInvokerCertificate"],
            enrolled["onboardingInformation"]["apiInvokerCertificate"]);
  valid = MatchesSpec(patched,
                      "TS29222_CAPIF_API_Invoker_Management_API.yaml#/components/"
                      "schemas/APIInvokerEnrolmentDetails");
  EXPECT_TRUE(valid.ok()) << valid;
  json token = json::parse(sh(absl::StrCat(
      mtls, "--data-urlencode grant_type=client_credentials --data-urlencode client_id=", id,
      " --data-urlencode client_secret=", secret, " --data-urlencode 'scope=3gpp#", *aef_id_,
      ":location-query' ", ccf_->api_root(), "/capif-security/v1/securities/", id, "/token")));
  EXPECT_EQ(token["token_type"], "Bearer");
  ASSERT_TRUE(token["access_token"].is_string());
  // Without the onboarding secret: refused with an AccessTokenErr.
  auto refused = RunToCompletion(
      {"/bin/bash", "-c",
       absl::StrCat("cd ", d, "; ", mtls, "--data-urlencode grant_type=client_credentials ",
                    "--data-urlencode client_id=", id, " --data-urlencode 'scope=3gpp#", *aef_id_,
                    ":location-query' ", ccf_->api_root(), "/capif-security/v1/securities/", id,
                    "/token")},
      kWait);
  ASSERT_TRUE(refused.ok());
  EXPECT_NE(refused->exit_code, 0);
  EXPECT_TRUE(absl::StrContains(refused->out, "invalid_client")) << refused->out;
}

// CAPIF_Events_API with curl as the AEF: subscribe, and an onboarding elsewhere reaches the AEF's
// HTTPS endpoint as an EventNotification (the first attempt refused with 503: the outbox tries
// again); PATCH and PUT change it, DELETE ends it. Every answer and notification is checked
// against the official schemas.
TEST_F(AefInteropTest, CurlSubscribesToEventsAndTheNotificationArrivesOverHttps) {
  std::string d = *dir_ + "/events";
  ASSERT_TRUE(MakeDirectories(d, 0700).ok());
  auto sh = [&](const std::string& cmd) {
    auto r = RunToCompletion({"/bin/bash", "-c", "set -e; cd " + d + "; " + cmd}, kWait);
    EXPECT_TRUE(r.ok() && r->exit_code == 0) << cmd << ": " << (r.ok() ? r->err + r->out : "");
    return r.ok() ? r->out : "";
  };
  // The subscriber's endpoint: a certificate of the domain's CA for 127.0.0.1.
  sh(absl::StrCat(Runfile("tools/capif-pki/capif-pki"), " issue --ca ", ccf_->dir(),
                  "/pki/ca --spiffe-id spiffe://operator-a.example/aef/", *aef_id_,
                  " --ip 127.0.0.1 --out listener"));
  auto roots = TrustBundle::FromPem(ccf_->ca_pem());
  ASSERT_TRUE(roots.ok());
  auto server = HttpsServer::Create({*ReadFile(d + "/listener/cert.pem"),
                                     SecretBytes(*ReadFile(d + "/listener/key.pem")), *roots},
                                    HttpsServer::Options{});
  ASSERT_TRUE(server.ok()) << server.status();
  absl::Mutex mu;
  std::vector<std::string> received;
  std::vector<std::string> callers;
  (*server)->router().Route("POST", "/notify", [&](const RestRequest& r) {
    absl::MutexLock l(&mu);
    received.push_back(r.body);
    callers.push_back(r.caller ? r.caller->ToString() : "");
    if (received.size() == 1) return absl::StatusOr<RestResponse>(RestError(503, "not yet"));
    return absl::StatusOr<RestResponse>(RestResponse::NoContent());
  });
  ASSERT_TRUE((*server)->Start().ok());
  const std::string dest = absl::StrCat("https://127.0.0.1:", (*server)->port(), "/notify");

  std::string aef = absl::StrCat("curl -sS --fail-with-body --cacert ", *dir_, "/ca.pem --cert ",
                                 *dir_, "/aef.pem --key ", *dir_, "/aef.key ");
  const std::string subs =
      absl::StrCat(ccf_->api_root(), "/capif-events/v1/", *aef_id_, "/subscriptions");
  json body = {{"events", {"API_INVOKER_ONBOARDED", "SERVICE_API_UPDATE"}},
               {"notificationDestination", dest}};
  ASSERT_TRUE(WriteFileAtomic(d + "/sub.json", body.dump()).ok());
  json created = json::parse(sh(absl::StrCat(
      aef, "-D headers.txt -H 'Content-Type: application/json' --data @sub.json ", subs)));
  absl::Status valid =
      MatchesSpec(created, "TS29222_CAPIF_Events_API.yaml#/components/schemas/EventSubscription");
  EXPECT_TRUE(valid.ok()) << valid;
  std::string headers = *ReadFile(d + "/headers.txt");
  EXPECT_TRUE(absl::StrContains(headers, " 201")) << headers;
  size_t at = headers.find(subs + "/");
  ASSERT_NE(at, std::string::npos) << headers;
  std::string location = headers.substr(at, headers.find('\r', at) - at);
  std::string sub_id = location.substr(subs.size() + 1);

  auto invoker = CapifInvoker::Onboard(ccf_->api_root(), ccf_->ca_pem(),
                                       ccf_->EnrollmentToken("invoker"), "https://i.example/cb");
  ASSERT_TRUE(invoker.ok()) << invoker.status();
  {
    absl::MutexLock l(&mu);
    auto two = [&] { return received.size() >= 2; };
    ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&two), kWait)) << received.size();
    EXPECT_EQ(received[0], received[1]);  // the refused one, delivered again
    json n = json::parse(received[1]);
    EXPECT_EQ(n["subscriptionId"], sub_id);
    EXPECT_EQ(n["events"], "API_INVOKER_ONBOARDED");
    EXPECT_EQ(n["eventDetail"]["apiInvokerIds"], json::array({(*invoker)->api_invoker_id()}));
    valid = MatchesSpec(n, "TS29222_CAPIF_Events_API.yaml#/components/schemas/EventNotification");
    EXPECT_TRUE(valid.ok()) << valid;
    EXPECT_EQ(callers[1], "spiffe://operator-a.example/ccf/ccf-a");  // the CCF, over mTLS
  }

  json patched =
      json::parse(sh(absl::StrCat(aef,
                                  "-X PATCH -H 'Content-Type: application/merge-patch+json' --data "
                                  "'{\"events\": [\"SERVICE_API_AVAILABLE\"]}' ",
                                  location)));
  EXPECT_EQ(patched["events"], json::array({"SERVICE_API_AVAILABLE"}));
  EXPECT_EQ(patched["notificationDestination"], dest);
  valid =
      MatchesSpec(patched, "TS29222_CAPIF_Events_API.yaml#/components/schemas/EventSubscription");
  EXPECT_TRUE(valid.ok()) << valid;
  json replaced = json::parse(sh(
      absl::StrCat(aef, "-X PUT -H 'Content-Type: application/json' --data @sub.json ", location)));
  EXPECT_EQ(replaced, body);
  // A malformed one: 400 ProblemDetails naming the attribute.
  auto bad = RunToCompletion(
      {"/bin/bash", "-c",
       absl::StrCat(aef,
                    "-H 'Content-Type: application/json' --data "
                    "'{\"events\": [\"NO_SUCH_EVENT\"], \"notificationDestination\": \"",
                    dest, "\"}' ", subs)},
      kWait);
  ASSERT_TRUE(bad.ok());
  json problem = json::parse(bad->out);
  EXPECT_EQ(problem["status"], 400);
  EXPECT_EQ(problem["invalidParams"][0]["param"], "/events/0");
  valid = MatchesSpec(problem, "TS29122_CommonData.yaml#/components/schemas/ProblemDetails");
  EXPECT_TRUE(valid.ok()) << valid;
  sh(absl::StrCat(aef, "-X DELETE -o /dev/null -w '%{http_code}' ", location));
  auto again = RunToCompletion(
      {"/bin/bash", "-c", absl::StrCat(aef, "-X DELETE -o /dev/null -w '%{http_code}' ", location)},
      kWait);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->out, "404");
  (*server)->Stop();
}

// CAPIF_Logging_API_Invocation_API and CAPIF_Auditing_API with curl: the AEF posts an
// InvocationLog, its AMF finds it by filters; both answers match the official schemas.
TEST_F(AefInteropTest, CurlLogsInvocationsAndTheAmfAuditsThem) {
  std::string d = *dir_ + "/logging";
  ASSERT_TRUE(MakeDirectories(d, 0700).ok());
  auto sh = [&](const std::string& cmd) {
    auto r = RunToCompletion({"/bin/bash", "-c", "set -e; cd " + d + "; " + cmd}, kWait);
    EXPECT_TRUE(r.ok() && r->exit_code == 0) << cmd << ": " << (r.ok() ? r->err + r->out : "");
    return r.ok() ? r->out : "";
  };
  std::string base = absl::StrCat("curl -sS --fail-with-body --cacert ", *dir_, "/ca.pem ");
  std::string aef = absl::StrCat(base, "--cert ", *dir_, "/aef.pem --key ", *dir_, "/aef.key ");
  std::string amf = absl::StrCat(base, "--cert ", *dir_, "/amf.pem --key ", *dir_, "/aef.key ");
  // (The AMF's certificate is for the provider's one key, as the AEF's.)
  const std::string& api_id = *api_id_;  // location-query, as its APF published it
  json log = {{"aefId", *aef_id_},
              {"apiInvokerId", "inv-curl"},
              {"logs",
               {{{"apiId", api_id},
                 {"apiName", "location-query"},
                 {"apiVersion", "v1"},
                 {"resourceName", "position"},
                 {"uri", "https://127.0.0.1/location-query/v1/position"},
                 {"protocol", "HTTP_1_1"},
                 {"operation", "GET"},
                 {"result", "200"},
                 {"invocationTime", "2026-12-01T10:00:00Z"},
                 {"invocationLatency", 3},
                 {"srcInterface", {{"ipv4Addr", "127.0.0.1"}, {"port", 40000}}}}}}};
  ASSERT_TRUE(WriteFileAtomic(d + "/log.json", log.dump()).ok());
  json stored = json::parse(
      sh(absl::StrCat(aef, "-H 'Content-Type: application/json' --data @log.json ",
                      ccf_->api_root(), "/api-invocation-logs/v1/", *aef_id_, "/logs")));
  absl::Status valid = MatchesSpec(
      stored, "TS29222_CAPIF_Logging_API_Invocation_API.yaml#/components/schemas/InvocationLog");
  EXPECT_TRUE(valid.ok()) << valid;
  json found = json::parse(sh(
      absl::StrCat(amf, "'", ccf_->api_root(), "/logs/v1/apiInvocationLogs?aef-id=", *aef_id_,
                   "&api-invoker-id=inv-curl&time-range-start=2026-12-01T09:00:00Z&result=200'")));
  ASSERT_EQ(found["logs"].size(), 1u) << found.dump();
  EXPECT_EQ(found["logs"][0]["resourceName"], "position");
  valid = MatchesSpec(
      found, "TS29222_CAPIF_Auditing_API.yaml#/components/schemas/InvocationLogsRetrieveRes");
  EXPECT_TRUE(valid.ok()) << valid;
  // The AEF may not read them; nothing else matches.
  auto refused = RunToCompletion({"/bin/bash", "-c",
                                  absl::StrCat(aef, "-o /dev/null -w '%{http_code}' '",
                                               ccf_->api_root(), "/logs/v1/apiInvocationLogs'")},
                                 kWait);
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->out, "403");
  auto none =
      RunToCompletion({"/bin/bash", "-c",
                       absl::StrCat(amf, "-o /dev/null -w '%{http_code}' '", ccf_->api_root(),
                                    "/logs/v1/apiInvocationLogs?api-invoker-id=inv-nobody'")},
                      kWait);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->out, "404");
}

// The sample AEF posts a log of each request it serves (sdk/aef/invocation_logger.h): the AMF
// finds the invoker's PKI invocation at the CCF, with the result, within the logger's flush.
TEST_F(AefInteropTest, TheSampleAefLogsItsInvocationsAtTheCcf) {
  Onboarded o = OnboardWith("PKI");
  std::string id = o.invoker->api_invoker_id();
  auto served = AefGetWithCertificate(
      absl::StrCat("https://127.0.0.1:", aef_port_, "/location-query/v1/position?ue=ue-log"),
      "spiffe://operator-a.example/aef/" + *aef_id_, ccf_->ca_pem(), o.invoker->certificate_pem(),
      *o.invoker->key().PrivateKeyPem());
  ASSERT_TRUE(served.ok() && served->status == 200) << served.status();
  auto amf = *HttpsClient::Create(
      {ccf_->ca_pem(), *ReadFile(*dir_ + "/amf.pem"), SecretBytes(*ReadFile(*dir_ + "/aef.key"))});
  absl::StatusOr<HttpsResponse> found;
  for (absl::Time end = absl::Now() + kWait; absl::Now() < end;) {
    found =
        amf->Request("GET", ccf_->api_root() + "/logs/v1/apiInvocationLogs?api-invoker-id=" + id +
                                "&api-id=" + *api_id_);
    if (!found.ok() || found->status != 404) break;
    absl::SleepFor(absl::Milliseconds(100));  // the AEF posts once a second
  }
  ASSERT_TRUE(found.ok() && found->status == 200) << (found.ok() ? found->body : "");
  json log = json::parse(found->body);
  EXPECT_EQ(log["aefId"], *aef_id_);
  ASSERT_EQ(log["logs"].size(), 1u) << log.dump();
  EXPECT_EQ(log["logs"][0]["result"], "200");
  EXPECT_EQ(log["logs"][0]["resourceName"], "position");
}

}  // namespace
}  // namespace capif

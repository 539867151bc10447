#include "ccf/api/invoker_management_api.h"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ccf/store/sql_stores.h"
#include "common/fake_clock.h"
#include "common/testing/test_paths.h"

namespace capif {
namespace {

using nlohmann::json;

// A PEM CSR for `key`, signed by `signer` (normally the same key).
std::string MakeCsr(const EvpKey& key, const EvpKey& signer) {
  X509_REQ* req = X509_REQ_new();
  X509_REQ_set_version(req, 0);
  X509_REQ_set_pubkey(req, key.get());
  X509_REQ_sign(req, signer.get(), EVP_sha256());
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509_REQ(bio, req);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(len));
  BIO_free(bio);
  X509_REQ_free(req);
  return pem;
}

class InvokerManagementApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = *OpenCcfDatabase(
        TestTmpDir(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    invokers_ = std::make_unique<SqlInvokerStore>(db_);
    tokens_ = std::make_unique<SqlEnrollmentTokenStore>(db_);
    api_ = std::make_unique<InvokerManagementApi>(InvokerManagementConfig{
        invokers_.get(), tokens_.get(), &ca_, &clock_, "https://127.0.0.1:8443"});
  }

  std::string Token() { return *IssueEnrollmentToken(*tokens_, EnrollmentPurpose::kInvoker, clock_.Now(), absl::Hours(1)); }

  json Body() const {
    return {{"onboardingInformation", {{"apiInvokerPublicKey", *CreateCsrPem(key_)}}},
            {"notificationDestination", "https://invoker.example/notify"},
            {"apiInvokerInformation", "demo app"}};
  }

  RestRequest Post(const json& body, const std::string& token,
                   const std::string& content_type = "application/json") {
    RestRequest r;
    r.method = "POST";
    r.body = body.is_string() ? body.get<std::string>() : body.dump();
    r.headers.emplace("content-type", content_type);
    if (!token.empty()) r.headers.emplace("authorization", "Bearer " + token);
    return r;
  }

  RestRequest AsInvoker(const std::string& method, const std::string& path_id,
                        const std::string& caller_id, const json& body = nullptr) {
    RestRequest r;
    r.method = method;
    r.path_params = {path_id};
    r.caller = *SpiffeId::Parse("spiffe://a.example/invoker/" + caller_id);
    if (!body.is_null()) {
      r.body = body.dump();
      r.headers.emplace("content-type", "application/json");
    }
    return r;
  }

  // Onboards and returns the response body.
  json Onboard() {
    auto res = api_->Onboard(Post(Body(), Token()));
    EXPECT_TRUE(res.ok()) << res.status();
    return json::parse(res->body);
  }

  int HttpStatusOf(const absl::StatusOr<RestResponse>& r) {
    return r.ok() ? r->status : ProblemFromStatus(r.status()).first;
  }

  FakeClock clock_{absl::Now()};  // certificates must be valid for OpenSSL's real-time checks
  CertificateAuthority ca_ =
      *CertificateAuthority::CreateRoot(TrustDomain("a.example"), clock_, absl::Hours(24 * 365));
  EvpKey key_ = *EvpKey::GenerateEcP256();
  std::shared_ptr<SqlDatabase> db_;
  std::unique_ptr<SqlInvokerStore> invokers_;
  std::unique_ptr<SqlEnrollmentTokenStore> tokens_;
  std::unique_ptr<InvokerManagementApi> api_;
};

TEST_F(InvokerManagementApiTest, OnboardingIssuesIdCertificateAndSecret) {
  auto res = api_->Onboard(Post(Body(), Token()));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->status, 201);
  json body = json::parse(res->body);
  std::string id = body["apiInvokerId"];
  EXPECT_EQ(id.rfind("inv-", 0), 0u);
  ASSERT_EQ(res->headers.size(), 1u);
  EXPECT_EQ(res->headers[0].second,
            "https://127.0.0.1:8443/api-invoker-management/v1/onboardedInvokers/" + id);
  auto cert = X509Cert::FromPem(body["onboardingInformation"]["apiInvokerCertificate"].get<std::string>());
  ASSERT_TRUE(cert.ok());
  EXPECT_EQ(cert->UriSans(), std::vector<std::string>{"spiffe://a.example/invoker/" + id});
  EXPECT_TRUE(cert->PublicKey()->PublicKeyEquals(key_));
  EXPECT_TRUE(TrustBundle::FromPem(*ca_.certificate().ToPem())->Verify({*cert}, clock_.Now()).ok());
  std::string secret = body["onboardingInformation"]["onboardingSecret"];
  EXPECT_GE(secret.size(), 40u);

  // Stored: the record, with the secret only as a salted digest.
  auto record = *invokers_->Get(ApiInvokerId(id));
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->secret_digest, OnboardingSecretDigest(record->secret_salt, SecretBytes(secret)));
  EXPECT_EQ(record->api_invoker_information, "demo app");
  EXPECT_EQ(record->certificate_pem, body["onboardingInformation"]["apiInvokerCertificate"]);
  EXPECT_EQ(EnrolmentJson(*record)["notificationDestination"], body["notificationDestination"]);
  EXPECT_FALSE(EnrolmentJson(*record)["onboardingInformation"].contains("onboardingSecret"));
}

TEST_F(InvokerManagementApiTest, EnrollmentTokenIsRequiredAndSingleUse) {
  EXPECT_EQ(HttpStatusOf(api_->Onboard(Post(Body(), ""))), 401);
  EXPECT_EQ(HttpStatusOf(api_->Onboard(Post(Body(), "made-up"))), 401);
  std::string token = Token();
  EXPECT_EQ(HttpStatusOf(api_->Onboard(Post(Body(), token))), 201);
  EXPECT_EQ(HttpStatusOf(api_->Onboard(Post(Body(), token))), 401);
  std::string expiring = Token();
  clock_.Advance(absl::Hours(2));
  EXPECT_EQ(HttpStatusOf(api_->Onboard(Post(Body(), expiring))), 401);
}

TEST_F(InvokerManagementApiTest, BadInputIsRefusedAndChangesNothing) {
  std::string token = Token();
  json no_key = Body();
  no_key["onboardingInformation"].erase("apiInvokerPublicKey");
  json wrong_type = Body();
  wrong_type["notificationDestination"] = 42;
  json not_uri = Body();
  not_uri["notificationDestination"] = "invoker.example";
  json with_id = Body();
  with_id["apiInvokerId"] = "inv-mine";
  json bad_csr = Body();
  bad_csr["onboardingInformation"]["apiInvokerPublicKey"] =
      MakeCsr(key_, *EvpKey::GenerateEcP256());  // signed by another key: no proof of possession
  json garbage_key = Body();
  garbage_key["onboardingInformation"]["apiInvokerPublicKey"] = "hello";
  json bad_features = Body();
  bad_features["supportedFeatures"] = "xyz";
  json bad_flag = Body();
  bad_flag["requestTestNotification"] = "yes";
  struct Case {
    RestRequest req;
    int status;
    std::string param;
  } cases[] = {
      {Post(no_key, token), 400, "/onboardingInformation/apiInvokerPublicKey"},
      {Post(wrong_type, token), 400, "/notificationDestination"},
      {Post(not_uri, token), 400, "/notificationDestination"},
      {Post(with_id, token), 400, "/apiInvokerId"},
      {Post(bad_csr, token), 400, "/onboardingInformation/apiInvokerPublicKey"},
      {Post(garbage_key, token), 400, "/onboardingInformation/apiInvokerPublicKey"},
      {Post(bad_features, token), 400, "/supportedFeatures"},
      {Post(bad_flag, token), 400, "/requestTestNotification"},
      {Post(json("{\"onboardingInformation\": "), token), 400, ""},
      {Post(json("[1]"), token), 400, ""},
      {Post(Body(), token, "text/plain"), 415, ""},
  };
  for (const Case& c : cases) {
    auto res = api_->Onboard(c.req);
    ASSERT_FALSE(res.ok()) << c.param;
    auto [status, problem] = ProblemFromStatus(res.status());
    EXPECT_EQ(status, c.status) << c.param << ": " << res.status();
    if (!c.param.empty()) {
      EXPECT_EQ(problem["invalidParams"][0]["param"], c.param);
    }
  }
  // Malformed key material is described, without OpenSSL's error codes.
  for (const char* pem : {"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
                          "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE "
                          "REQUEST-----\n"}) {
    json bad = Body();
    bad["onboardingInformation"]["apiInvokerPublicKey"] = pem;
    auto res = api_->Onboard(Post(bad, token));
    ASSERT_FALSE(res.ok());
    auto [status, problem] = ProblemFromStatus(res.status());
    EXPECT_EQ(status, 400);
    std::string detail = problem.value("detail", "");
    EXPECT_FALSE(detail.empty());
    EXPECT_EQ(detail.find("routines"), std::string::npos) << detail;
    EXPECT_EQ(detail.find("error:"), std::string::npos) << detail;
  }
  // Nothing was onboarded and the token is still usable.
  EXPECT_TRUE(db_->Query("SELECT * FROM invokers")->empty());
  EXPECT_EQ(HttpStatusOf(api_->Onboard(Post(Body(), token))), 201);
}

TEST_F(InvokerManagementApiTest, UpdateAndOffboardOnlyByTheInvokerItself) {
  json a = Onboard();
  json b = Onboard();
  std::string id_a = a["apiInvokerId"], id_b = b["apiInvokerId"];
  json update = Body();
  update["apiInvokerId"] = id_a;
  update["apiInvokerInformation"] = "renamed";

  EXPECT_EQ(HttpStatusOf(api_->Update(AsInvoker("PUT", id_a, id_b, update))), 403);
  RestRequest anonymous = AsInvoker("PUT", id_a, id_a, update);
  anonymous.caller.reset();
  EXPECT_EQ(HttpStatusOf(api_->Update(anonymous)), 401);
  json mismatched = update;
  mismatched["apiInvokerId"] = id_b;
  EXPECT_EQ(HttpStatusOf(api_->Update(AsInvoker("PUT", id_a, id_a, mismatched))), 400);

  auto updated = api_->Update(AsInvoker("PUT", id_a, id_a, update));
  ASSERT_TRUE(updated.ok()) << updated.status();
  json u = json::parse(updated->body);
  EXPECT_EQ(u["apiInvokerInformation"], "renamed");
  EXPECT_EQ(u["onboardingInformation"]["apiInvokerCertificate"],
            a["onboardingInformation"]["apiInvokerCertificate"]);  // same key, same certificate
  EXPECT_FALSE(u["onboardingInformation"].contains("onboardingSecret"));

  // A new key is certified anew.
  EvpKey next = *EvpKey::GenerateEcP256();
  update["onboardingInformation"]["apiInvokerPublicKey"] = MakeCsr(next, next);
  json rekeyed = json::parse(api_->Update(AsInvoker("PUT", id_a, id_a, update))->body);
  auto cert = X509Cert::FromPem(rekeyed["onboardingInformation"]["apiInvokerCertificate"].get<std::string>());
  EXPECT_TRUE(cert->PublicKey()->PublicKeyEquals(next));

  EXPECT_EQ(HttpStatusOf(api_->Offboard(AsInvoker("DELETE", id_a, id_b))), 403);
  EXPECT_TRUE(invokers_->Get(ApiInvokerId(id_a))->has_value());
  EXPECT_EQ(HttpStatusOf(api_->Offboard(AsInvoker("DELETE", id_a, id_a))), 204);
  EXPECT_FALSE(invokers_->Get(ApiInvokerId(id_a))->has_value());
  EXPECT_EQ(HttpStatusOf(api_->Offboard(AsInvoker("DELETE", id_a, id_a))), 404);
  EXPECT_EQ(HttpStatusOf(api_->Update(AsInvoker("PUT", id_a, id_a, update))), 404);
  EXPECT_TRUE(invokers_->Get(ApiInvokerId(id_b))->has_value());
}

}  // namespace
}  // namespace capif

namespace capif {
namespace {

RestRequest MergePatch(RestRequest r, const json& patch,
                       const std::string& type = "application/merge-patch+json") {
  r.method = "PATCH";
  r.body = patch.dump();
  r.headers.clear();
  r.headers.emplace("content-type", type);
  return r;
}

// PATCH (RFC 7396 merge patch of APIInvokerEnrolmentDetailsPatch): what it names changes, the
// rest stays; what the Patch schema does not have, a wrong media type, a removed required
// member and another invoker are refused, and change nothing.
TEST_F(InvokerManagementApiTest, PatchMergesIntoTheResourceAndIsCheckedLikePut) {
  json a = Onboard();
  json b = Onboard();
  std::string id = a["apiInvokerId"], other = b["apiInvokerId"];
  auto patch = [&](const json& p, const std::string& caller,
                   const std::string& type = "application/merge-patch+json") {
    return api_->Patch(MergePatch(AsInvoker("PATCH", id, caller), p, type));
  };
  auto done = patch({{"notificationDestination", "https://invoker.example/new"}}, id);
  ASSERT_TRUE(done.ok()) << done.status();
  ASSERT_EQ(done->status, 200) << done->body;
  json u = json::parse(done->body);
  EXPECT_EQ(u["notificationDestination"], "https://invoker.example/new");
  EXPECT_EQ(u["apiInvokerInformation"], "demo app");  // untouched
  EXPECT_EQ(u["onboardingInformation"]["apiInvokerCertificate"],
            a["onboardingInformation"]["apiInvokerCertificate"]);
  EXPECT_EQ((*invokers_->Get(ApiInvokerId(id)))->notification_destination,
            "https://invoker.example/new");
  // null removes an optional member.
  json cleared = json::parse(patch({{"apiInvokerInformation", nullptr}}, id)->body);
  EXPECT_FALSE(cleared.contains("apiInvokerInformation"));
  // A new key through PATCH is certified anew.
  EvpKey next = *EvpKey::GenerateEcP256();
  auto rekeyed =
      patch({{"onboardingInformation", {{"apiInvokerPublicKey", MakeCsr(next, next)}}}}, id);
  ASSERT_EQ(HttpStatusOf(rekeyed), 200);
  auto cert =
      X509Cert::FromPem(json::parse(rekeyed->body)["onboardingInformation"]["apiInvokerCertificate"]
                            .get<std::string>());
  EXPECT_TRUE(cert->PublicKey()->PublicKeyEquals(next));

  struct Refusal {
    json patch;
    std::string type;
    int status;
    std::string param;
  } refusals[] = {
      {{{"apiInvokerId", other}}, "application/merge-patch+json", 400, "/apiInvokerId"},
      {{{"onboardingInformation", {{"apiInvokerCertificate", "x"}}}},
       "application/merge-patch+json",
       400,
       "/onboardingInformation/apiInvokerCertificate"},
      {{{"notificationDestination", nullptr}},
       "application/merge-patch+json",
       400,
       "/notificationDestination"},
      {{{"notificationDestination", 7}},
       "application/merge-patch+json",
       400,
       "/notificationDestination"},
      {{{"notificationDestination", "https://x.example/"}}, "application/json", 415, ""},
  };
  for (const Refusal& r : refusals) {
    auto res = patch(r.patch, id, r.type);
    ASSERT_FALSE(res.ok()) << r.patch.dump();
    auto [status, problem] = ProblemFromStatus(res.status());
    EXPECT_EQ(status, r.status) << r.patch.dump();
    if (!r.param.empty()) {
      EXPECT_EQ(problem["invalidParams"][0]["param"], r.param);
    }
  }
  EXPECT_EQ(HttpStatusOf(patch({{"apiInvokerInformation", "x"}}, other)), 403);
  auto kept = *invokers_->Get(ApiInvokerId(id));
  EXPECT_EQ(kept->notification_destination, "https://invoker.example/new");
  EXPECT_FALSE(kept->api_invoker_information.has_value());
}

}  // namespace
}  // namespace capif

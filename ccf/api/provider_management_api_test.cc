#include "ccf/api/provider_management_api.h"

#include <gtest/gtest.h>

#include "ccf/api/invoker_management_api.h"
#include "ccf/store/provider_registry.h"
#include "ccf/store/sql_stores.h"
#include "common/fake_clock.h"
#include "common/file_io.h"
#include "common/testing/test_paths.h"
#include "common/x509_cert.h"

namespace capif {
namespace {

using nlohmann::json;

class ProviderManagementApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = *OpenCcfDatabase(
        TestTmpDir(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    providers_ = std::make_unique<SqlProviderRegistry>(db_);
    tokens_ = std::make_unique<SqlEnrollmentTokenStore>(db_);
    api_ = std::make_unique<ProviderManagementApi>(ProviderManagementConfig{
        providers_.get(), tokens_.get(), &ca_, &clock_, "https://ccf.example"});
  }

  std::string Token(EnrollmentPurpose p = EnrollmentPurpose::kProvider) {
    return *IssueEnrollmentToken(*tokens_, p, clock_.Now(), absl::Hours(1));
  }
  json Func(const std::string& role) {
    return {{"apiProvFuncRole", role}, {"regInfo", {{"apiProvPubKey", *CreateCsrPem(key_)}}}};
  }
  json Body(const std::string& reg_sec) {
    return {{"regSec", reg_sec},
            {"apiProvFuncs", {Func("AMF"), Func("APF"), Func("AEF")}},
            {"apiProvDomInfo", "operator A"}};
  }
  RestRequest Request(const json& body, const std::string& caller = "",
                      const std::string& path_id = "") {
    RestRequest r;
    r.body = body.dump();
    r.headers.emplace("content-type", "application/json");
    if (!caller.empty()) r.caller = *SpiffeId::Parse(caller);
    if (!path_id.empty()) r.path_params = {path_id};
    return r;
  }
  int Status(const absl::StatusOr<RestResponse>& r) {
    return r.ok() ? r->status : ProblemFromStatus(r.status()).first;
  }
  json Register() {
    auto res = api_->Register(Request(Body(Token())));
    EXPECT_TRUE(res.ok()) << res.status();
    return json::parse(res->body);
  }
  static std::string IdOfRole(const json& reg, const std::string& role) {
    for (const json& f : reg["apiProvFuncs"]) {
      if (f["apiProvFuncRole"] == role) return f["apiProvFuncId"];
    }
    return "";
  }

  FakeClock clock_{absl::Now()};
  CertificateAuthority ca_ =
      *CertificateAuthority::CreateRoot(TrustDomain("a.example"), clock_, absl::Hours(24 * 365));
  EvpKey key_ = *EvpKey::GenerateEcP256();
  std::shared_ptr<SqlDatabase> db_;
  std::unique_ptr<SqlProviderRegistry> providers_;
  std::unique_ptr<SqlEnrollmentTokenStore> tokens_;
  std::unique_ptr<ProviderManagementApi> api_;
};

TEST_F(ProviderManagementApiTest, RegistrationCertifiesEachFunctionWithItsRole) {
  auto res = api_->Register(Request(Body(Token())));
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->status, 201);
  json reg = json::parse(res->body);
  std::string dom = reg["apiProvDomId"];
  EXPECT_EQ(res->headers[0].second,
            "https://ccf.example/api-provider-management/v1/registrations/" + dom);
  ASSERT_EQ(reg["apiProvFuncs"].size(), 3u);
  for (const json& f : reg["apiProvFuncs"]) {
    std::string role = f["apiProvFuncRole"];
    std::string id = f["apiProvFuncId"];
    auto cert = X509Cert::FromPem(f["regInfo"]["apiProvCert"].get<std::string>());
    ASSERT_TRUE(cert.ok());
    std::string lower = role == "AEF" ? "aef" : role == "APF" ? "apf" : "amf";
    EXPECT_EQ(cert->UriSans()[0], "spiffe://a.example/" + lower + "/" + id);
    ProviderRole r = *ProviderRoleOfName(role);
    EXPECT_TRUE(FindProviderFunction(*providers_, id, r).ok());
    EXPECT_FALSE(FindProviderFunction(*providers_, id,
                                      r == ProviderRole::kAef ? ProviderRole::kApf
                                                              : ProviderRole::kAef)
                     .ok());
  }
}

TEST_F(ProviderManagementApiTest, RefusalsChangeNothing) {
  std::string token = Token();
  json no_amf = Body(token);
  no_amf["apiProvFuncs"] = {Func("AEF")};
  json bad_role = Body(token);
  bad_role["apiProvFuncs"][1]["apiProvFuncRole"] = "XYZ";
  json no_key = Body(token);
  no_key["apiProvFuncs"][0]["regInfo"].erase("apiProvPubKey");
  json with_id = Body(token);
  with_id["apiProvFuncs"][0]["apiProvFuncId"] = "amf-mine";
  json no_sec = Body(token);
  no_sec.erase("regSec");
  json empty = Body(token);
  empty["apiProvFuncs"] = json::array();
  for (const json& b : {no_amf, bad_role, no_key, with_id, no_sec, empty}) {
    EXPECT_EQ(Status(api_->Register(Request(b))), 400) << b.dump().substr(0, 80);
  }
  EXPECT_EQ(Status(api_->Register(Request(Body(Token(EnrollmentPurpose::kInvoker))))), 401);
  EXPECT_EQ(Status(api_->Register(Request(Body("forged")))), 401);
  EXPECT_TRUE(db_->Query("SELECT * FROM provider_domains")->empty());
  EXPECT_EQ(Status(api_->Register(Request(Body(token)))), 201);  // token not spent before
  EXPECT_EQ(Status(api_->Register(Request(Body(token)))), 401);  // now it is
}

TEST_F(ProviderManagementApiTest, OnlyAnAmfOfTheDomainManagesIt) {
  json a = Register();
  json b = Register();
  std::string dom_a = a["apiProvDomId"];
  std::string amf_a = "spiffe://a.example/amf/" + IdOfRole(a, "AMF");
  std::string amf_b = "spiffe://a.example/amf/" + IdOfRole(b, "AMF");
  std::string aef_a = "spiffe://a.example/aef/" + IdOfRole(a, "AEF");

  json update = a;
  update["apiProvDomInfo"] = "renamed";
  // Drop the APF, keep AMF and AEF, add a second AEF.
  json funcs = json::array();
  for (const json& f : a["apiProvFuncs"]) {
    if (f["apiProvFuncRole"] != "APF") funcs.push_back(f);
  }
  funcs.push_back(Func("AEF"));
  update["apiProvFuncs"] = funcs;

  EXPECT_EQ(Status(api_->Update(Request(update, amf_b, dom_a))), 403);
  EXPECT_EQ(Status(api_->Update(Request(update, aef_a, dom_a))), 403);
  EXPECT_EQ(Status(api_->Update(Request(update, "", dom_a))), 401);
  auto ok = api_->Update(Request(update, amf_a, dom_a));
  ASSERT_TRUE(ok.ok()) << ok.status();
  json u = json::parse(ok->body);
  EXPECT_EQ(u["apiProvDomInfo"], "renamed");
  EXPECT_EQ(u["apiProvFuncs"].size(), 3u);
  EXPECT_EQ((*providers_->Get(dom_a))->functions.size(), 3u);
  EXPECT_FALSE(FindProviderFunction(*providers_, IdOfRole(a, "APF"), ProviderRole::kApf).ok());
  EXPECT_TRUE(FindProviderFunction(*providers_, IdOfRole(a, "AEF"), ProviderRole::kAef).ok());
  EXPECT_FALSE(FindProviderFunction(*providers_, IdOfRole(a, "AEF"), ProviderRole::kApf).ok());
  // The kept AEF keeps its certificate (same key).
  EXPECT_EQ(u["apiProvFuncs"][1]["regInfo"]["apiProvCert"], a["apiProvFuncs"][2]["regInfo"]["apiProvCert"]);

  EXPECT_EQ(Status(api_->Deregister(Request(json::object(), amf_b, dom_a))), 403);
  EXPECT_EQ(Status(api_->Deregister(Request(json::object(), amf_a, dom_a))), 204);
  EXPECT_FALSE(*providers_->Get(dom_a));
  EXPECT_FALSE(*providers_->GetFunction(IdOfRole(a, "AMF")));
  EXPECT_EQ(Status(api_->Deregister(Request(json::object(), amf_a, dom_a))), 403);  // AMF is gone
  ASSERT_TRUE(*providers_->Get(b["apiProvDomId"]));  // domain B intact
  EXPECT_EQ((*providers_->Get(b["apiProvDomId"]))->functions.size(), 3u);
}

TEST_F(ProviderManagementApiTest, SpentRegSecIsAnsweredButNeverStored) {
  std::string token = Token();
  auto res = api_->Register(Request(Body(token)));
  ASSERT_TRUE(res.ok()) << res.status();
  json reg = json::parse(res->body);
  EXPECT_EQ(reg["regSec"], token);  // APIProviderEnrolmentDetails requires it
  std::string dom = reg["apiProvDomId"];
  auto stored_without = [&](const std::string& secret) {
    auto domain = providers_->Get(dom);
    EXPECT_TRUE(domain.ok() && domain->has_value());
    std::string dir = TestTmpDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    for (const char* file : {"/ccf.db", "/ccf.db-wal"}) {
      auto raw = ReadFile(dir + file, size_t{1} << 30);
      ASSERT_TRUE(raw.ok()) << raw.status();
      EXPECT_EQ(raw->find(secret), std::string::npos) << file;
    }
  };
  stored_without(token);

  json update = reg;
  update["regSec"] = "a-regsec-sent-with-the-update";
  auto updated = api_->Update(
      Request(update, "spiffe://a.example/amf/" + IdOfRole(reg, "AMF"), dom));
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(json::parse(updated->body)["regSec"], "a-regsec-sent-with-the-update");
  stored_without(token);
  stored_without("a-regsec-sent-with-the-update");
}

}  // namespace
}  // namespace capif

namespace capif {
namespace {

// PATCH of a registration (APIProviderEnrolmentDetailsPatch): apiProvDomInfo replaced, a new
// function registered and certified, a listed function merged, the others kept; members the
// Patch schema lacks, unknown function ids, a role change and other AMFs are refused.
TEST_F(ProviderManagementApiTest, PatchAddsAndUpdatesFunctionsAndKeepsTheOthers) {
  json a = Register();
  json b = Register();
  std::string dom = a["apiProvDomId"];
  std::string amf = "spiffe://a.example/amf/" + IdOfRole(a, "AMF");
  std::string other_amf = "spiffe://a.example/amf/" + IdOfRole(b, "AMF");
  auto patch = [&](const json& p, const std::string& caller) {
    RestRequest r = Request(p, caller, dom);
    r.method = "PATCH";
    r.headers.clear();
    r.headers.emplace("content-type", "application/merge-patch+json");
    return api_->Patch(r);
  };
  EvpKey aef_key = *EvpKey::GenerateEcP256();
  json new_aef = {{"apiProvFuncRole", "AEF"},
                  {"regInfo", {{"apiProvPubKey", *CreateCsrPem(aef_key)}}}};
  json renamed_apf = {{"apiProvFuncId", IdOfRole(a, "APF")}, {"apiProvFuncInfo", "publisher"}};
  auto done = patch(
      {{"apiProvDomInfo", "operator A, renamed"}, {"apiProvFuncs", {new_aef, renamed_apf}}}, amf);
  ASSERT_TRUE(done.ok()) << done.status();
  ASSERT_EQ(done->status, 200) << done->body;
  json u = json::parse(done->body);
  EXPECT_EQ(u["apiProvDomInfo"], "operator A, renamed");
  EXPECT_EQ(u["regSec"], "");  // spent at registration, never kept
  ASSERT_EQ(u["apiProvFuncs"].size(), 4u);
  auto stored = *providers_->Get(dom);
  ASSERT_EQ(stored->functions.size(), 4u);
  // The APF kept its key and certificate and got its info; the new AEF is certified.
  auto apf = *providers_->GetFunction(IdOfRole(a, "APF"));
  EXPECT_EQ(apf->info, "publisher");
  EXPECT_EQ(apf->certificate_pem, a["apiProvFuncs"][1]["regInfo"]["apiProvCert"]);
  const json& added = u["apiProvFuncs"][3];
  EXPECT_EQ(added["apiProvFuncRole"], "AEF");
  auto cert = X509Cert::FromPem(added["regInfo"]["apiProvCert"].get<std::string>());
  ASSERT_TRUE(cert.ok());
  EXPECT_TRUE(cert->PublicKey()->PublicKeyEquals(aef_key));

  for (const json& bad :
       {json{{"regSec", "x"}}, json{{"apiProvDomId", "dom-x"}},
        json{{"apiProvFuncs", {{{"apiProvFuncId", "aef-nobody"}}}}},
        json{{"apiProvFuncs",
              {{{"apiProvFuncId", IdOfRole(a, "AEF")}, {"apiProvFuncRole", "APF"}}}}},
        json{{"apiProvFuncs", json::array()}}}) {
    EXPECT_EQ(Status(patch(bad, amf)), 400) << bad.dump();
  }
  EXPECT_EQ(Status(patch({{"apiProvDomInfo", "stolen"}}, other_amf)), 403);
  EXPECT_EQ((*providers_->Get(dom))->functions.size(), 4u);
  EXPECT_EQ((*providers_->Get(dom))->info, "operator A, renamed");
}

}  // namespace
}  // namespace capif

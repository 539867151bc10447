// Interop: a real ccfd with its TS 29.222 northbound, an invoker speaking plain HTTPS
// (cpp-httplib client), enrollment with the real capifctl, and durability across SIGKILL.
#include <httplib.h>
#include <signal.h>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/evp_key.h"
#include "common/file_io.h"
#include "common/subprocess.h"
#include "common/testing/test_paths.h"
#include "common/x509_cert.h"

namespace capif {
namespace {

using nlohmann::json;

constexpr char kOnboarded[] = "/api-invoker-management/v1/onboardedInvokers";

void MustRun(const std::vector<std::string>& argv, std::string* out = nullptr) {
  auto r = RunToCompletion(argv, absl::Seconds(60));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->exit_code, 0) << argv[0] << " " << argv[1] << "\n" << r->err;
  if (out != nullptr) *out = r->out;
}

class OnboardingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TestTmpDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::string pki = Runfile("tools/capif-pki/capif-pki");
    MustRun({pki, "init-domain", "--trust-domain", "operator-a.example", "--out",
             dir_ + "/pki/ca"});
    MustRun({pki, "issue", "--ca", dir_ + "/pki/ca", "--spiffe-id",
             "spiffe://operator-a.example/ccf/ccf-a", "--ip", "127.0.0.1", "--out",
             dir_ + "/pki/ccf-a"});
    config_ = dir_ + "/ccf-a.json";
    ASSERT_TRUE(WriteFileAtomic(config_, R"({
      "ccf_id": "ccf-a", "trust_domain": "operator-a.example",
      "bus": {"listen": "127.0.0.1:0", "certificate": "pki/ccf-a/cert.pem",
              "private_key": "pki/ccf-a/key.pem", "trust_bundle": "pki/ca/ca.pem"},
      "northbound": {"listen": "127.0.0.1:0", "certificate": "pki/ccf-a/cert.pem",
                     "private_key": "pki/ccf-a/key.pem"},
      "ca": {"certificate": "pki/ca/ca.pem", "private_key": "pki/ca/ca.key"},
      "data_dir": "data"
    })").ok());
    ca_pem_ = *ReadFile(dir_ + "/pki/ca/ca.pem");
    StartCcfd();
  }

  void StartCcfd() {
    auto proc = Subprocess::Start({Runfile("ccf/ccfd"), "--config", config_});
    ASSERT_TRUE(proc.ok());
    ccfd_ = *std::move(proc);
    ASSERT_TRUE(ccfd_->ReadStdoutLine(absl::Seconds(30)).ok()) << ccfd_->stderr_text();
    auto line = ccfd_->ReadStdoutLine(absl::Seconds(30));
    ASSERT_TRUE(line.ok()) << ccfd_->stderr_text();
    ASSERT_TRUE(absl::StrContains(*line, "northbound on https://127.0.0.1:")) << *line;
    port_ = std::stoi(line->substr(line->rfind(':') + 1));
  }

  std::string EnrollmentToken() {
    std::string out;
    MustRun({Runfile("tools/capifctl/capifctl"), "enroll-invoker", "--config", config_}, &out);
    return std::string(absl::StripTrailingAsciiWhitespace(out));
  }

  // A client trusting only the domain CA; with the invoker's certificate when given.
  std::unique_ptr<httplib::SSLClient> Client(const X509Cert* cert = nullptr,
                                             const EvpKey* key = nullptr) {
    auto c = cert ? std::make_unique<httplib::SSLClient>("127.0.0.1", port_, cert->get(),
                                                         key->get())
                  : std::make_unique<httplib::SSLClient>("127.0.0.1", port_);
    X509_STORE* store = X509_STORE_new();
    X509_STORE_add_cert(store, X509Cert::FromPem(ca_pem_)->get());
    c->set_ca_cert_store(store);
    c->enable_server_certificate_verification(true);
    return c;
  }

  json EnrolmentBody(const EvpKey& key) {
    return {{"onboardingInformation", {{"apiInvokerPublicKey", *CreateCsrPem(key)}}},
            {"notificationDestination", "https://invoker.example/cb"}};
  }

  std::string dir_, config_, ca_pem_;
  std::unique_ptr<Subprocess> ccfd_;
  int port_ = 0;
};

TEST_F(OnboardingTest, OnboardUpdateOffboardSurviveSigkill) {
  EvpKey key = *EvpKey::GenerateEcP256();
  httplib::Headers auth = {{"Authorization", "Bearer " + EnrollmentToken()}};
  auto created = Client()->Post(kOnboarded, auth, EnrolmentBody(key).dump(), "application/json");
  ASSERT_TRUE(created) << httplib::to_string(created.error());
  ccfd_->WaitForStderr("request failed", absl::Milliseconds(300)).IgnoreError();
  ASSERT_EQ(created->status, 201) << created->body << ccfd_->stderr_text();
  json body = json::parse(created->body);
  std::string id = body["apiInvokerId"];
  EXPECT_EQ(created->get_header_value("Location"),
            absl::StrCat("https://127.0.0.1:", port_, kOnboarded, "/", id));
  X509Cert cert =
      *X509Cert::FromPem(body["onboardingInformation"]["apiInvokerCertificate"].get<std::string>());

  // Update as the invoker, over mutual TLS with the certificate it just got.
  json update = EnrolmentBody(key);
  update["apiInvokerInformation"] = "after update";
  auto updated = Client(&cert, &key)->Put(absl::StrCat(kOnboarded, "/", id), update.dump(),
                                          "application/json");
  ASSERT_TRUE(updated);
  ccfd_->WaitForStderr("\n", absl::Milliseconds(200)).IgnoreError();
  ASSERT_EQ(updated->status, 200) << updated->body << ccfd_->stderr_text();

  // SIGKILL: no chance to flush anything. The acknowledged writes must still be there.
  ccfd_->Signal(SIGKILL);
  ASSERT_EQ(*ccfd_->Wait(absl::Seconds(30)), 128 + SIGKILL);
  StartCcfd();
  json again = EnrolmentBody(key);
  again["apiInvokerInformation"] = "after restart";
  auto after = Client(&cert, &key)->Put(absl::StrCat(kOnboarded, "/", id), again.dump(),
                                        "application/json");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200) << after->body;
  EXPECT_EQ(json::parse(after->body)["onboardingInformation"]["apiInvokerCertificate"],
            body["onboardingInformation"]["apiInvokerCertificate"]);

  auto deleted = Client(&cert, &key)->Delete(absl::StrCat(kOnboarded, "/", id));
  ASSERT_TRUE(deleted);
  EXPECT_EQ(deleted->status, 204);
  ccfd_->Signal(SIGKILL);
  ccfd_->Wait(absl::Seconds(30)).IgnoreError();
  StartCcfd();
  auto gone = Client(&cert, &key)->Put(absl::StrCat(kOnboarded, "/", id), again.dump(),
                                       "application/json");
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->status, 404);
  EXPECT_EQ(gone->get_header_value("Content-Type"), "application/problem+json");
}

TEST_F(OnboardingTest, RefusalsAreProblemDetails) {
  EvpKey key = *EvpKey::GenerateEcP256();
  auto no_token = Client()->Post(kOnboarded, EnrolmentBody(key).dump(), "application/json");
  ASSERT_TRUE(no_token);
  EXPECT_EQ(no_token->status, 401);
  EXPECT_EQ(json::parse(no_token->body)["status"], 401);

  httplib::Headers auth = {{"Authorization", "Bearer " + EnrollmentToken()}};
  auto too_big = Client()->Post(kOnboarded, auth, std::string(100000, ' '), "application/json");
  ASSERT_TRUE(too_big);
  EXPECT_EQ(too_big->status, 413);
  auto unknown = Client()->Get("/api-invoker-management/v1/nothing-here");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  EXPECT_EQ(json::parse(unknown->body)["status"], 404);
  // The token was not spent by the refused request.
  auto created = Client()->Post(kOnboarded, auth, EnrolmentBody(key).dump(), "application/json");
  ASSERT_TRUE(created);
  EXPECT_EQ(created->status, 201);
}

}  // namespace
}  // namespace capif

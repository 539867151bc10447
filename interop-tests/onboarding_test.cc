// Interop: a real ccfd with its TS 29.222 northbound, an invoker speaking plain HTTPS
// (cpp-httplib client), enrollment with the real capifctl, and durability across SIGKILL.
#include <httplib.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/evp_key.h"
#include "common/file_io.h"
#include "common/x509_cert.h"
#include "common/subprocess.h"
#include "common/testing/test_paths.h"
#include "interop-tests/ccfd_fixture.h"

namespace capif {
namespace {

using nlohmann::json;

constexpr char kOnboarded[] = "/api-invoker-management/v1/onboardedInvokers";

class OnboardingTest : public ::testing::Test {
 protected:
  OnboardingTest() : ccf_(::testing::UnitTest::GetInstance()->current_test_info()->name()) {}

  int port() const { return std::stoi(ccf_.api_root().substr(ccf_.api_root().rfind(':') + 1)); }

  // A client trusting only the domain CA; with the invoker's certificate when given.
  std::unique_ptr<httplib::SSLClient> Client(const X509Cert* cert = nullptr,
                                             const EvpKey* key = nullptr) {
    auto c = cert ? std::make_unique<httplib::SSLClient>("127.0.0.1", port(), cert->get(),
                                                         key->get())
                  : std::make_unique<httplib::SSLClient>("127.0.0.1", port());
    X509_STORE* store = X509_STORE_new();
    X509_STORE_add_cert(store, X509Cert::FromPem(ccf_.ca_pem())->get());
    c->set_ca_cert_store(store);
    c->enable_server_certificate_verification(true);
    return c;
  }

  json EnrolmentBody(const EvpKey& key) {
    return {{"onboardingInformation", {{"apiInvokerPublicKey", *CreateCsrPem(key)}}},
            {"notificationDestination", "https://invoker.example/cb"}};
  }

  CcfdProcess ccf_;
};

TEST_F(OnboardingTest, OnboardUpdateOffboardSurviveSigkill) {
  EvpKey key = *EvpKey::GenerateEcP256();
  httplib::Headers auth = {{"Authorization", "Bearer " + ccf_.EnrollmentToken("invoker")}};
  auto created = Client()->Post(kOnboarded, auth, EnrolmentBody(key).dump(), "application/json");
  ASSERT_TRUE(created) << httplib::to_string(created.error());
  ASSERT_EQ(created->status, 201) << created->body;
  json body = json::parse(created->body);
  std::string id = body["apiInvokerId"];
  EXPECT_EQ(created->get_header_value("Location"),
            absl::StrCat(ccf_.api_root(), kOnboarded, "/", id));
  X509Cert cert =
      *X509Cert::FromPem(body["onboardingInformation"]["apiInvokerCertificate"].get<std::string>());

  // Update as the invoker, over mutual TLS with the certificate it just got.
  json update = EnrolmentBody(key);
  update["apiInvokerInformation"] = "after update";
  auto updated = Client(&cert, &key)->Put(absl::StrCat(kOnboarded, "/", id), update.dump(),
                                          "application/json");
  ASSERT_TRUE(updated);
  ASSERT_EQ(updated->status, 200) << updated->body;

  // SIGKILL: no chance to flush anything. The acknowledged writes must still be there.
  ccf_.KillAndRestart();
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
  ccf_.KillAndRestart();
  auto gone = Client(&cert, &key)->Put(absl::StrCat(kOnboarded, "/", id), again.dump(),
                                       "application/json");
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->status, 404);
  EXPECT_EQ(gone->get_header_value("Content-Type"), "application/problem+json");
}

// `PRAGMA integrity_check` of a SQLite file: "ok" or what is wrong.
std::string IntegrityCheck(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    std::string err = db ? sqlite3_errmsg(db) : "cannot open";
    sqlite3_close(db);
    return err;
  }
  std::string out;
  char* err = nullptr;
  sqlite3_exec(
      db, "PRAGMA integrity_check",
      [](void* o, int n, char** v, char**) {
        if (n > 0 && v[0] != nullptr) static_cast<std::string*>(o)->append(v[0]);
        return 0;
      },
      &out, &err);
  if (err != nullptr) out = err;
  sqlite3_free(err);
  sqlite3_close(db);
  return out;
}

// Issue 12 probe: SIGKILL while several clients are onboarding. Every onboarding the CCF
// acknowledged (201) is still there after the restart, and the database is intact.
TEST_F(OnboardingTest, SigkillDuringWritesLosesNothingAcknowledged) {
  constexpr int kTokens = 40, kClients = 4, kKillAfter = 8;
  signal(SIGPIPE, SIG_IGN);  // the clients write to a connection the SIGKILL cut
  std::vector<std::string> tokens;
  for (int i = 0; i < kTokens; ++i) tokens.push_back(ccf_.EnrollmentToken("invoker"));
  EvpKey key = *EvpKey::GenerateEcP256();
  const std::string body = EnrolmentBody(key).dump();
  std::atomic<int> next{0}, acknowledged{0};
  absl::Mutex mu;
  std::vector<std::pair<std::string, std::string>> onboarded;  // id, certificate
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, client = Client()] {
      client->set_connection_timeout(5);
      client->set_read_timeout(10);
      for (int i = next++; i < kTokens; i = next++) {
        httplib::Headers auth = {{"Authorization", "Bearer " + tokens[i]}};
        auto r = client->Post(kOnboarded, auth, body, "application/json");
        if (!r) return;  // the CCF is gone
        if (r->status != 201) continue;
        json out = json::parse(r->body);
        absl::MutexLock lock(&mu);
        onboarded.emplace_back(out["apiInvokerId"],
                               out["onboardingInformation"]["apiInvokerCertificate"]);
        ++acknowledged;
      }
    });
  }
  while (acknowledged < kKillAfter && next < kTokens) std::this_thread::yield();
  int started_at_kill = next;
  ccf_.KillAndRestart();  // while the clients still write
  for (std::thread& t : clients) t.join();
  EXPECT_LT(started_at_kill, kTokens) << "the SIGKILL came after the last write";
  ASSERT_GE(onboarded.size(), static_cast<size_t>(kKillAfter));
  EXPECT_EQ(IntegrityCheck(ccf_.dir() + "/data/ccf.db"), "ok");
  json update = EnrolmentBody(key);
  for (const auto& [id, pem] : onboarded) {
    X509Cert cert = *X509Cert::FromPem(pem);
    auto r = Client(&cert, &key)->Put(absl::StrCat(kOnboarded, "/", id), update.dump(),
                                      "application/json");
    ASSERT_TRUE(r) << id;
    EXPECT_EQ(r->status, 200) << id << " was acknowledged before the SIGKILL: " << r->body;
  }
}

TEST_F(OnboardingTest, RefusalsAreProblemDetails) {
  EvpKey key = *EvpKey::GenerateEcP256();
  auto no_token = Client()->Post(kOnboarded, EnrolmentBody(key).dump(), "application/json");
  ASSERT_TRUE(no_token);
  EXPECT_EQ(no_token->status, 401);
  EXPECT_EQ(json::parse(no_token->body)["status"], 401);

  httplib::Headers auth = {{"Authorization", "Bearer " + ccf_.EnrollmentToken("invoker")}};
  auto too_big = Client()->Post(kOnboarded, auth, std::string(100000, ' '), "application/json");
  ASSERT_TRUE(too_big);
  EXPECT_EQ(too_big->status, 413);
  auto unknown = Client()->Get("/api-invoker-management/v1/nothing-here");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  EXPECT_EQ(json::parse(unknown->body)["status"], 404);
  // PATCH needs the invoker's own certificate, like PUT.
  auto patch = Client()->Patch(std::string(kOnboarded) + "/inv-x", "{}", "application/merge-patch+json");
  ASSERT_TRUE(patch);
  EXPECT_EQ(patch->status, 401);
  EXPECT_EQ(json::parse(patch->body)["status"], 401);
  // The token was not spent by the refused request.
  auto created = Client()->Post(kOnboarded, auth, EnrolmentBody(key).dump(), "application/json");
  ASSERT_TRUE(created);
  EXPECT_EQ(created->status, 201);
}

TEST_F(OnboardingTest, RotatedTokenKeyIsPublishedBesideTheOldOne) {
  auto before = Client()->Get("/.well-known/jwks.json");
  ASSERT_TRUE(before);
  ASSERT_EQ(json::parse(before->body)["keys"].size(), 1u);
  std::string old_kid = json::parse(before->body)["keys"][0]["kid"];
  auto r = RunToCompletion({Runfile("tools/capifctl/capifctl"), "rotate-token-key", "--config",
                            ccf_.config()},
                           absl::Seconds(60));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->exit_code, 0) << r->err;
  EXPECT_NE(r->out.find("2 keys published"), std::string::npos) << r->out;
  ccf_.KillAndRestart();
  auto after = Client()->Get("/.well-known/jwks.json");
  ASSERT_TRUE(after);
  json keys = json::parse(after->body)["keys"];
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_TRUE(keys[0]["kid"] == old_kid || keys[1]["kid"] == old_kid);
  // ccfd sealed both keys with its <data_dir>/kek; nothing in the database files is a private
  // key, and every file is the owner's only.
  std::string data = ccf_.dir() + "/data";
  for (const char* name : {"kek", "ccf.db", "ccf.db-wal", "ccf.db-shm"}) {
    struct stat st;
    ASSERT_EQ(::stat((data + "/" + name).c_str(), &st), 0) << name;
    EXPECT_EQ(st.st_mode & 07777, 0600u) << name;
    if (std::string(name) == "kek") continue;
    auto raw = ReadFile(data + "/" + name, size_t{1} << 30);
    ASSERT_TRUE(raw.ok()) << raw.status();
    EXPECT_FALSE(absl::StrContains(*raw, "PRIVATE KEY")) << name;
  }
}

}  // namespace
}  // namespace capif

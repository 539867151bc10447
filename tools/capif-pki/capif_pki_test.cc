// Runs the real capif-pki binary, as an operator would.
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/file_io.h"
#include "common/subprocess.h"
#include "common/testing/test_paths.h"
#include "common/x509_cert.h"

namespace capif {
namespace {

std::string Binary() { return Runfile("tools/capif-pki/capif-pki"); }

class CapifPkiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TestTmpDir() + "/" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
  }
  RunResult Run(std::vector<std::string> args) {
    args.insert(args.begin(), Binary());
    auto r = RunToCompletion(args, absl::Seconds(60));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : RunResult{-1, "", ""};
  }
  bool Exists(const std::string& p) { return ::access(p.c_str(), F_OK) == 0; }

  std::string dir_;
};

TEST_F(CapifPkiTest, InitDomainThenIssueGivesVerifiableLeaf) {
  RunResult init = Run({"init-domain", "--trust-domain", "operator-a.example", "--out",
                        dir_ + "/ca"});
  ASSERT_EQ(init.exit_code, 0) << init.err;
  struct stat st;
  ASSERT_EQ(stat((dir_ + "/ca/ca.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  RunResult issue = Run({"issue", "--ca", dir_ + "/ca", "--spiffe-id",
                         "spiffe://operator-a.example/ccf/ccf-a", "--dns", "localhost", "--ip",
                         "127.0.0.1", "--out", dir_ + "/ccf-a"});
  ASSERT_EQ(issue.exit_code, 0) << issue.err;
  auto leaf = X509Cert::FromPem(*ReadFile(dir_ + "/ccf-a/cert.pem"));
  ASSERT_TRUE(leaf.ok());
  EXPECT_EQ(leaf->UriSans(), std::vector<std::string>{"spiffe://operator-a.example/ccf/ccf-a"});
  EXPECT_EQ(leaf->DnsSans(), std::vector<std::string>{"localhost"});
  EXPECT_EQ(leaf->IpSans(), std::vector<std::string>{"127.0.0.1"});
  auto bundle = TrustBundle::FromPem(*ReadFile(dir_ + "/ccf-a/ca.pem"));
  ASSERT_TRUE(bundle.ok());
  EXPECT_TRUE(bundle->Verify({*leaf}, Clock::Real().Now()).ok());
  auto key = EvpKey::FromPrivateKeyPem(SecretBytes(*ReadFile(dir_ + "/ccf-a/key.pem")));
  ASSERT_TRUE(key.ok());
  EXPECT_TRUE(leaf->PublicKey()->PublicKeyEquals(*key));
}

TEST_F(CapifPkiTest, BadArgumentsExitTwoAndWriteNothing) {
  ASSERT_EQ(Run({"init-domain", "--trust-domain", "a.example", "--out", dir_ + "/ca"}).exit_code,
            0);
  struct Case {
    std::vector<std::string> args;
    const char* message;
  } cases[] = {
      {{}, "usage"},
      {{"frobnicate"}, "unknown command"},
      {{"init-domain", "--out", dir_ + "/x"}, "--trust-domain is required"},
      {{"init-domain", "--trust-domain", "Bad Domain", "--out", dir_ + "/x"}, "trust domain"},
      {{"init-domain", "--trust-domain", "a.example", "--out", dir_ + "/x", "--validity-days",
        "-3"},
       "--validity-days"},
      {{"issue", "--ca", dir_ + "/ca", "--spiffe-id", "not-a-uri", "--out", dir_ + "/x"},
       "spiffe://"},
      {{"issue", "--ca", dir_ + "/ca", "--spiffe-id", "spiffe://b.example/ccf/c", "--out",
        dir_ + "/x"},
       "outside this CA's trust domain"},
      {{"issue", "--ca", dir_ + "/ca", "--spiffe-id", "spiffe://a.example/ccf/c", "--ip", "1.2.3",
        "--out", dir_ + "/x"},
       "not a valid IP"},
      {{"issue", "--ca", dir_ + "/nope", "--spiffe-id", "spiffe://a.example/ccf/c", "--out",
        dir_ + "/x"},
       "init-domain"},
      {{"issue", "--ca", dir_ + "/ca", "--spiffe-id", "spiffe://a.example/ccf/c", "--out"},
       "needs a value"},
      {{"issue", "--bogus", "1"}, "unknown flag"},
      // Existing outputs are never overwritten.
      {{"init-domain", "--trust-domain", "a.example", "--out", dir_ + "/ca"}, "already exists"},
  };
  for (const Case& c : cases) {
    RunResult r = Run(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.message;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << "stderr was: " << r.err;
  }
  EXPECT_FALSE(Exists(dir_ + "/x"));
}

}  // namespace
}  // namespace capif

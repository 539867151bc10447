// Runs the real ccfd binary: start-up, the "listening" line, clean SIGTERM, config errors.
#include <signal.h>

#include <gtest/gtest.h>

#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "common/file_io.h"
#include "common/subprocess.h"
#include "common/testing/test_paths.h"

namespace capif {
namespace {

constexpr char kConfig[] = R"({
  "ccf_id": "ccf-a", "trust_domain": "a.example",
  "bus": {"listen": "127.0.0.1:0", "certificate": "pki/ccf-a/cert.pem",
          "private_key": "pki/ccf-a/key.pem", "trust_bundle": "pki/ccf-a/ca.pem"},
  "peers": []
})";

class CcfdTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(TestTmpDir("ccfd"));
    std::string pki = Runfile("tools/capif-pki/capif-pki");
    auto init = RunToCompletion(
        {pki, "init-domain", "--trust-domain", "a.example", "--out", *dir_ + "/pki/ca"},
        absl::Seconds(60));
    ASSERT_TRUE(init.ok() && init->exit_code == 0);
    auto issue = RunToCompletion({pki, "issue", "--ca", *dir_ + "/pki/ca", "--spiffe-id",
                                  "spiffe://a.example/ccf/ccf-a", "--ip", "127.0.0.1", "--out",
                                  *dir_ + "/pki/ccf-a"},
                                 absl::Seconds(60));
    ASSERT_TRUE(issue.ok() && issue->exit_code == 0);
  }
  std::string WriteConfig(const std::string& name, const std::string& text) {
    std::string path = *dir_ + "/" + name;
    EXPECT_TRUE(WriteFileAtomic(path, text).ok());
    return path;
  }
  static std::string* dir_;
};

std::string* CcfdTest::dir_ = nullptr;

TEST_F(CcfdTest, StartsPrintsPortAndStopsCleanlyOnSigterm) {
  auto proc = Subprocess::Start({Runfile("ccf/ccfd"), "--config", WriteConfig("a.json", kConfig)});
  ASSERT_TRUE(proc.ok());
  auto line = (*proc)->ReadStdoutLine(absl::Seconds(30));
  ASSERT_TRUE(line.ok()) << line.status() << (*proc)->stderr_text();
  EXPECT_TRUE(absl::StartsWith(*line, "ccfd ccf-a listening on 127.0.0.1:")) << *line;
  EXPECT_FALSE(absl::EndsWith(*line, ":0"));
  (*proc)->Signal(SIGTERM);
  auto code = (*proc)->Wait(absl::Seconds(30));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 0) << (*proc)->stderr_text();
  EXPECT_NE((*proc)->stderr_text().find("stopped"), std::string::npos);
}

TEST_F(CcfdTest, CheckConfigValidatesWithoutServing) {
  auto r = RunToCompletion(
      {Runfile("ccf/ccfd"), "--config", WriteConfig("a.json", kConfig), "--check-config"},
      absl::Seconds(30));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 0) << r->err;
  EXPECT_NE(r->out.find("spiffe://a.example/ccf/ccf-a"), std::string::npos);
}

TEST_F(CcfdTest, ConfigErrorStopsStartupNamingTheField) {
  std::string bad = absl::StrReplaceAll(kConfig, {{"pki/ccf-a/key.pem", "pki/none.pem"}});
  auto r = RunToCompletion({Runfile("ccf/ccfd"), "--config", WriteConfig("bad.json", bad)},
                           absl::Seconds(30));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 2);
  EXPECT_NE(r->err.find("bus.private_key"), std::string::npos) << r->err;
}

TEST_F(CcfdTest, BadArgumentsExitTwo) {
  auto r = RunToCompletion({Runfile("ccf/ccfd")}, absl::Seconds(30));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 2);
  EXPECT_NE(r->err.find("--config is required"), std::string::npos);
}

TEST_F(CcfdTest, PortInUseExitsOne) {
  auto first =
      Subprocess::Start({Runfile("ccf/ccfd"), "--config", WriteConfig("a.json", kConfig)});
  ASSERT_TRUE(first.ok());
  auto line = (*first)->ReadStdoutLine(absl::Seconds(30));
  ASSERT_TRUE(line.ok());
  std::string bound = line->substr(line->rfind(' ') + 1);
  std::string same = absl::StrReplaceAll(kConfig, {{"127.0.0.1:0", bound}});
  auto r = RunToCompletion({Runfile("ccf/ccfd"), "--config", WriteConfig("same.json", same)},
                           absl::Seconds(30));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 1);
  EXPECT_NE(r->err.find("cannot listen"), std::string::npos) << r->err;
}

}  // namespace
}  // namespace capif

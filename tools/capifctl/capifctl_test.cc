// Runs the real capifctl binary against peers that cannot answer.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/file_io.h"
#include "common/subprocess.h"
#include "common/testing/test_paths.h"

namespace capif {
namespace {

// A loopback port that is bound but never listens: connecting to it is refused at once.
class ClosedPort {
 public:
  ClosedPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~ClosedPort() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_;
  int port_;
};

class CapifctlTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(TestTmpDir("ctl"));
    std::string pki = Runfile("tools/capif-pki/capif-pki");
    for (const char* d : {"a", "b"}) {
      std::string td = absl::StrCat(d, ".example");
      ASSERT_EQ(RunToCompletion({pki, "init-domain", "--trust-domain", td, "--out",
                                 absl::StrCat(*dir_, "/", d, "-ca")},
                                absl::Seconds(60))
                    ->exit_code,
                0);
      ASSERT_EQ(RunToCompletion({pki, "issue", "--ca", absl::StrCat(*dir_, "/", d, "-ca"),
                                 "--spiffe-id", absl::StrCat("spiffe://", td, "/ccf/ccf-", d),
                                 "--out", absl::StrCat(*dir_, "/ccf-", d)},
                                absl::Seconds(60))
                    ->exit_code,
                0);
    }
  }

  std::string Config(int peer_port) {
    std::string text = absl::StrReplaceAll(R"({
      "ccf_id": "ccf-a", "trust_domain": "a.example",
      "bus": {"listen": "127.0.0.1:0", "certificate": "ccf-a/cert.pem",
              "private_key": "ccf-a/key.pem", "trust_bundle": "ccf-a/ca.pem"},
      "peers": [{"ccf_id": "ccf-b", "trust_domain": "b.example", "endpoint": "127.0.0.1:PORT",
                 "trust_bundle": "ccf-b/ca.pem", "relation": "CAPIF-6e"}]
    })", {{"PORT", absl::StrCat(peer_port)}});
    std::string path = *dir_ + "/a.json";
    EXPECT_TRUE(WriteFileAtomic(path, text).ok());
    return path;
  }

  RunResult Run(std::vector<std::string> args) {
    args.insert(args.begin(), Runfile("tools/capifctl/capifctl"));
    auto r = RunToCompletion(args, absl::Seconds(60));
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : RunResult{-1, "", ""};
  }

  static std::string* dir_;
};

std::string* CapifctlTest::dir_ = nullptr;

TEST_F(CapifctlTest, UnreachablePeerIsReportedAndFailsTheCommand) {
  ClosedPort closed;
  RunResult r = Run({"peers", "--config", Config(closed.port()), "--timeout-ms", "5000"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.out.find("ccf-b"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("unreachable"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("UNAVAILABLE"), std::string::npos) << r.out;

  RunResult j = Run({"peers", "--config", Config(closed.port()), "--json"});
  EXPECT_EQ(j.exit_code, 1);
  EXPECT_NE(j.out.find("\"reachable\": false"), std::string::npos) << j.out;
  EXPECT_NE(j.out.find("\"ccf\": \"spiffe://a.example/ccf/ccf-a\""), std::string::npos) << j.out;
}

TEST_F(CapifctlTest, BadArgumentsAndConfigExitTwo) {
  EXPECT_EQ(Run({}).exit_code, 2);
  EXPECT_EQ(Run({"frob"}).exit_code, 2);
  EXPECT_EQ(Run({"peers"}).exit_code, 2);
  EXPECT_EQ(Run({"peers", "--config", Config(1), "--timeout-ms", "0"}).exit_code, 2);
  RunResult r = Run({"peers", "--config", *dir_ + "/missing.json"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("missing.json"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace capif

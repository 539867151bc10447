// Runs the real capifctl binary: against peers that cannot answer, against a real running ccfd
// (its admin socket), and with no ccfd running.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "common/evp_key.h"
#include "common/file_io.h"
#include "common/subprocess.h"
#include "common/testing/test_paths.h"
#include "interop-tests/ccfd_fixture.h"
#include "sdk/invoker/invoker_client.h"
#include "sdk/provider/provider_client.h"

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

// A configuration with a northbound whose data directory no ccfd ever used.
TEST_F(CapifctlTest, WithoutARunningCcfdNothingIsCreated) {
  std::string data = *dir_ + "/never-started";
  std::string config = *dir_ + "/never.json";
  ASSERT_TRUE(WriteFileAtomic(config, R"({
      "ccf_id": "ccf-a", "trust_domain": "a.example",
      "bus": {"listen": "127.0.0.1:0", "certificate": "ccf-a/cert.pem",
              "private_key": "ccf-a/key.pem", "trust_bundle": "ccf-a/ca.pem"},
      "northbound": {"listen": "127.0.0.1:0", "certificate": "ccf-a/cert.pem",
                     "private_key": "ccf-a/key.pem"},
      "ca": {"certificate": "a-ca/ca.pem", "private_key": "a-ca/ca.key"},
      "data_dir": "never-started", "peers": []
    })").ok());
  std::string expected = absl::StrCat("ccfd is not running (no admin socket at ", data,
                                      "/admin.sock); start it first");
  const std::vector<std::vector<std::string>> commands = {
      {"enroll-invoker"}, {"enroll-provider", "--ttl-seconds", "60"}, {"rotate-token-key"},
      {"notices"}, {"notices", "--json"}, {"drop-grants"}, {"drop-grants", "--invoker", "x"}};
  for (bool dir_exists : {false, true}) {
    if (dir_exists) {
      ASSERT_EQ(::mkdir(data.c_str(), 0700), 0);
    }
    for (std::vector<std::string> args : commands) {
      args.insert(args.begin() + 1, {"--config", config});
      RunResult r = Run(args);
      EXPECT_EQ(r.exit_code, 1) << args[0] << ": " << r.err;
      EXPECT_NE(r.err.find(expected), std::string::npos) << args[0] << ": " << r.err;
      EXPECT_EQ(r.out, "") << args[0];
    }
    // No database, no key-encryption key, no data directory if there was none.
    struct stat st;
    EXPECT_EQ(::stat(data.c_str(), &st) == 0, dir_exists);
    for (const char* name : {"ccf.db", "ccf.db-wal", "kek", "admin.sock"}) {
      EXPECT_NE(::stat((data + "/" + name).c_str(), &st), 0) << name;
    }
  }
  // Bad arguments are still found before looking for ccfd.
  EXPECT_EQ(Run({"enroll-invoker", "--config", config, "--ttl-seconds", "0"}).exit_code, 2);
  EXPECT_EQ(Run({"drop-grants", "--config", config, "--invoker"}).exit_code, 2);
  EXPECT_EQ(Run({"drop-grants"}).exit_code, 2);
}

// The JWKS the running ccfd serves (GET /.well-known/jwks.json), fetched by curl.
nlohmann::json Jwks(const CcfdProcess& ccf) {
  auto r = RunToCompletion({"/usr/bin/curl", "-sS", "--cacert", ccf.ca_path(),
                            ccf.api_root() + "/.well-known/jwks.json"},
                           absl::Seconds(30));
  if (!r.ok() || r->exit_code != 0) {
    ADD_FAILURE() << "curl: " << (r.ok() ? r->err : r.status().ToString());
    return nlohmann::json();
  }
  return nlohmann::json::parse(r->out, nullptr, false);
}

TEST_F(CapifctlTest, ChangesTheRunningCcfdThroughItsAdminSocket) {
  CcfdProcess ccf("ctl-running");
  std::string socket = ccf.dir() + "/data/admin.sock";
  struct stat st;
  ASSERT_EQ(::lstat(socket.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_uid, ::getuid());

  // An invoker enrollment token onboards once.
  RunResult enrolled = Run({"enroll-invoker", "--config", ccf.config(), "--ttl-seconds", "600"});
  ASSERT_EQ(enrolled.exit_code, 0) << enrolled.err;
  std::string token(absl::StripTrailingAsciiWhitespace(enrolled.out));
  EXPECT_EQ(token.size(), 43u) << enrolled.out;  // only the token on stdout
  auto invoker = CapifInvoker::Onboard(ccf.api_root(), ccf.ca_pem(), token,
                                       "https://invoker.example/cb");
  ASSERT_TRUE(invoker.ok()) << invoker.status();
  EXPECT_FALSE((*invoker)->api_invoker_id().empty());
  EXPECT_FALSE(CapifInvoker::Onboard(ccf.api_root(), ccf.ca_pem(), token,
                                     "https://invoker.example/cb")
                   .ok());
  // A provider enrollment token is a regSec.
  RunResult reg_sec = Run({"enroll-provider", "--config", ccf.config()});
  ASSERT_EQ(reg_sec.exit_code, 0) << reg_sec.err;
  auto key = EvpKey::GenerateEcP256();
  ASSERT_TRUE(key.ok());
  auto provider = RegisterApiProvider(ccf.api_root(), ccf.ca_pem(),
                                      std::string(absl::StripTrailingAsciiWhitespace(reg_sec.out)),
                                      *key);
  EXPECT_TRUE(provider.ok()) << provider.status();

  // The rotated key is in the running ccfd's JWKS at once, beside the old one.
  nlohmann::json before = Jwks(ccf);
  ASSERT_EQ(before["keys"].size(), 1u) << before;
  RunResult rotated = Run({"rotate-token-key", "--config", ccf.config()});
  ASSERT_EQ(rotated.exit_code, 0) << rotated.err;
  EXPECT_NE(rotated.out.find("(2 keys published); ccfd signs with it now"), std::string::npos)
      << rotated.out;
  nlohmann::json after = Jwks(ccf);
  ASSERT_EQ(after["keys"].size(), 2u) << after;
  std::string old_kid = before["keys"][0]["kid"];
  std::string new_kid = after["keys"][0]["kid"] == old_kid ? after["keys"][1]["kid"]
                                                           : after["keys"][0]["kid"];
  EXPECT_NE(new_kid, old_kid);
  EXPECT_NE(rotated.out.find("new signing key " + new_kid), std::string::npos) << rotated.out;

  RunResult notices = Run({"notices", "--config", ccf.config()});
  EXPECT_EQ(notices.exit_code, 0) << notices.err;
  EXPECT_EQ(notices.out, "0 notice(s) waiting for acknowledgement\n");
  RunResult notices_json = Run({"notices", "--config", ccf.config(), "--json"});
  EXPECT_EQ(notices_json.exit_code, 0) << notices_json.err;
  EXPECT_EQ(nlohmann::json::parse(notices_json.out, nullptr, false)["pending"],
            nlohmann::json::array())
      << notices_json.out;

  RunResult dropped = Run({"drop-grants", "--config", ccf.config()});
  EXPECT_EQ(dropped.exit_code, 0) << dropped.err;
  EXPECT_EQ(dropped.out, "0 grant(s) dropped\n");
  RunResult dropped_one = Run({"drop-grants", "--config", ccf.config(), "--invoker", "inv-x"});
  EXPECT_EQ(dropped_one.exit_code, 0) << dropped_one.err;
  EXPECT_EQ(dropped_one.out, "0 grant(s) dropped for invoker inv-x\n");

  // A clean stop removes the socket; then capifctl says ccfd is not running.
  ASSERT_EQ(ccf.Stop(), 0);
  EXPECT_NE(::lstat(socket.c_str(), &st), 0);
  RunResult stopped = Run({"enroll-invoker", "--config", ccf.config()});
  EXPECT_EQ(stopped.exit_code, 1);
  EXPECT_NE(stopped.err.find("ccfd is not running (no admin socket at " + socket + ")"),
            std::string::npos)
      << stopped.err;
}

TEST_F(CapifctlTest, AKilledCcfdsSocketIsNotRunningAndTheNextStartReplacesIt) {
  std::string socket;
  {
    CcfdProcess killed("ctl-killed");
    socket = killed.dir() + "/data/admin.sock";
    killed.process().Signal(SIGKILL);
    ASSERT_TRUE(killed.process().Wait(absl::Seconds(30)).ok());
    struct stat st;
    ASSERT_EQ(::lstat(socket.c_str(), &st), 0);  // left behind
    RunResult r = Run({"notices", "--config", killed.config()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("ccfd is not running (nothing accepts connections on the admin socket "
                         "at " + socket + ")"),
              std::string::npos)
        << r.err;
  }
  CcfdProcess restarted("ctl-killed");  // same data directory
  RunResult r = Run({"notices", "--config", restarted.config()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(restarted.process()
                  .WaitForStderr("removed the stale admin socket", absl::Seconds(10))
                  .ok());
}

}  // namespace
}  // namespace capif

#include "interop-tests/ccfd_fixture.h"

#include <signal.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/file_io.h"
#include "common/testing/test_paths.h"

namespace capif {
namespace {

void Die(const std::string& what) {
  fprintf(stderr, "CcfdProcess: %s\n", what.c_str());
  std::abort();
}

std::string MustRun(const std::vector<std::string>& argv) {
  auto r = RunToCompletion(argv, absl::Seconds(60));
  if (!r.ok() || r->exit_code != 0) {
    Die(absl::StrCat(argv[0], " ", argv[1], " failed: ", r.ok() ? r->err : r.status().ToString()));
  }
  return r->out;
}

}  // namespace

CcfdProcess::CcfdProcess(const std::string& name, const std::string& domain,
                         const std::string& peers_json, const std::string& bus_listen)
    : CcfdProcess(name, domain, [&] {
        CcfdOptions o;
        o.peers_json = peers_json;
        o.bus_listen = bus_listen;
        return o;
      }()) {}

CcfdProcess::CcfdProcess(const std::string& name, const std::string& domain,
                         const CcfdOptions& options)
    : dir_(TestTmpDir(name)) {
  const std::string& peers_json = options.peers_json;
  const std::string& bus_listen = options.bus_listen;
  std::string pki = Runfile("tools/capif-pki/capif-pki");
  std::string td = absl::StrCat("operator-", domain, ".example");
  std::string ccf = absl::StrCat("ccf-", domain);
  if (!options.replica_of.empty() && !ReadFile(dir_ + "/pki/ccf/cert.pem").ok()) {
    // The first replica's identity and key-encryption key, as an operator deploys them.
    const std::string first = TestTmpDir(options.replica_of);
    for (const char* f : {"pki/ccf/cert.pem", "pki/ccf/key.pem", "pki/ca/ca.pem", "pki/ca/ca.key",
                          "data/kek"}) {
      auto content = ReadFile(first + "/" + f);
      if (!content.ok()) Die(absl::StrCat("replica_of: ", content.status().ToString()));
      std::string to = absl::StrCat(dir_, "/", f);
      if (!MakeDirectories(to.substr(0, to.rfind('/')), 0700).ok() ||
          !WriteFileAtomic(to, *content, 0600).ok()) {
        Die(absl::StrCat("cannot copy ", f, " for a replica"));
      }
    }
  }
  if (!ReadFile(dir_ + "/pki/ccf/cert.pem").ok()) {  // a second process of `name` reuses it
    MustRun({pki, "init-domain", "--trust-domain", td, "--out", dir_ + "/pki/ca"});
    MustRun({pki, "issue", "--ca", dir_ + "/pki/ca", "--spiffe-id",
             absl::StrCat("spiffe://", td, "/ccf/", ccf), "--ip", "127.0.0.1", "--out",
             dir_ + "/pki/ccf"});
  }
  config_ = absl::StrCat(dir_, "/", ccf, ".json");
  if (!WriteFileAtomic(config_, absl::StrCat(R"({
      "ccf_id": ")", ccf, R"(", "trust_domain": ")", td, R"(",
      "bus": {"listen": ")", bus_listen, R"(", "certificate": "pki/ccf/cert.pem",
              "private_key": "pki/ccf/key.pem", "trust_bundle": "pki/ca/ca.pem",
              "notice_retry_initial_ms": 100, "notice_retry_max_ms": 500},
      "northbound": {"listen": "127.0.0.1:0", "certificate": "pki/ccf/cert.pem",
                     "private_key": "pki/ccf/key.pem"},
      "ca": {"certificate": "pki/ca/ca.pem", "private_key": "pki/ca/ca.key"},
      "data_dir": "data",)",
      options.storage_json.empty() ? "" : absl::StrCat(R"("storage": )", options.storage_json, ","),
      R"(
      "metrics": {"listen": "127.0.0.1:0"},
      "peers": )", peers_json, "}"))
           .ok()) {
    Die("cannot write the configuration");
  }
  ca_pem_ = *ReadFile(dir_ + "/pki/ca/ca.pem");
  Start();
}

CcfdProcess::~CcfdProcess() {
  if (process_) Stop();
}

void CcfdProcess::Start() {
  auto proc = Subprocess::Start({Runfile("ccf/ccfd"), "--config", config_});
  if (!proc.ok()) Die(proc.status().ToString());
  process_ = *std::move(proc);
  auto bus = process_->ReadStdoutLine(absl::Seconds(30));
  auto nb = process_->ReadStdoutLine(absl::Seconds(30));
  if (!bus.ok() || !nb.ok() || !absl::StrContains(*nb, "northbound on ")) {
    Die(absl::StrCat("ccfd did not start: ", process_->stderr_text()));
  }
  api_root_ = nb->substr(nb->find("https://"));
  auto metrics = process_->ReadStdoutLine(absl::Seconds(30));
  if (!metrics.ok() || !absl::StrContains(*metrics, "metrics on ")) {
    Die(absl::StrCat("ccfd did not serve metrics: ", process_->stderr_text()));
  }
  metrics_url_ = metrics->substr(metrics->find("http://"));
  bus_endpoint_ = bus->substr(bus->rfind(' ') + 1);
}

void CcfdProcess::KillAndRestart() {
  process_->Signal(SIGKILL);
  process_->Wait(absl::Seconds(30)).IgnoreError();
  Start();
}

int CcfdProcess::Stop() {
  process_->Signal(SIGTERM);
  auto code = process_->Wait(absl::Seconds(30));
  process_.reset();
  return code.ok() ? *code : -1;
}

std::string CcfdProcess::EnrollmentToken(const std::string& purpose) {
  std::string out = MustRun({Runfile("tools/capifctl/capifctl"), "enroll-" + purpose,
                             "--config", config_});
  return std::string(absl::StripTrailingAsciiWhitespace(out));
}

}  // namespace capif

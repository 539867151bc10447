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

CcfdProcess::CcfdProcess(const std::string& name) : dir_(TestTmpDir(name)) {
  std::string pki = Runfile("tools/capif-pki/capif-pki");
  MustRun({pki, "init-domain", "--trust-domain", "operator-a.example", "--out", dir_ + "/pki/ca"});
  MustRun({pki, "issue", "--ca", dir_ + "/pki/ca", "--spiffe-id",
           "spiffe://operator-a.example/ccf/ccf-a", "--ip", "127.0.0.1", "--out",
           dir_ + "/pki/ccf-a"});
  config_ = dir_ + "/ccf-a.json";
  if (!WriteFileAtomic(config_, R"({
      "ccf_id": "ccf-a", "trust_domain": "operator-a.example",
      "bus": {"listen": "127.0.0.1:0", "certificate": "pki/ccf-a/cert.pem",
              "private_key": "pki/ccf-a/key.pem", "trust_bundle": "pki/ca/ca.pem"},
      "northbound": {"listen": "127.0.0.1:0", "certificate": "pki/ccf-a/cert.pem",
                     "private_key": "pki/ccf-a/key.pem"},
      "ca": {"certificate": "pki/ca/ca.pem", "private_key": "pki/ca/ca.key"},
      "data_dir": "data"
    })").ok()) {
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

// One real ccfd with its TS 29.222 northbound, for interop tests: PKI made by the real capif-pki
// under TEST_TMPDIR/<name>, the process started on port 0, enrollment tokens from the real
// capifctl. testonly.
#ifndef CAPIF_INTEROP_TESTS_CCFD_FIXTURE_H_
#define CAPIF_INTEROP_TESTS_CCFD_FIXTURE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/subprocess.h"

namespace capif {

struct CcfdOptions {
  std::string peers_json = "[]";
  // Lets a restarted CCF keep its bus address (peers already point at it).
  std::string bus_listen = "127.0.0.1:0";
  // The configuration's "storage" section (JSON); "" = the SQLite default in data_dir.
  std::string storage_json;
  // Makes this process another replica of the CCF started under TestTmpDir(replica_of): the
  // same identity (its PKI) and key-encryption key, with a data_dir of its own (admin socket).
  // That CCF must have started (its kek exists) and use the same `storage_json`.
  std::string replica_of;
};

class CcfdProcess {
 public:
  // Creates the PKI of trust domain operator-<domain>.example and the configuration of
  // ccf-<domain> in TestTmpDir(name), with `peers_json` as its "peers" array, and starts ccfd.
  // A second CcfdProcess with the same `name` reuses the PKI and data (a restart with another
  // configuration). Aborts the test binary with a message if that fails.
  // `bus_listen` lets a restarted CCF keep its bus address (peers already point at it). The bus
  // port (chosen here when `bus_listen` is port 0) stays reserved until the test binary exits.
  explicit CcfdProcess(const std::string& name, const std::string& domain = "a",
                       const std::string& peers_json = "[]",
                       const std::string& bus_listen = "127.0.0.1:0");
  CcfdProcess(const std::string& name, const std::string& domain, const CcfdOptions& options);
  ~CcfdProcess();

  // SIGKILL (no chance to flush) and start again on the same data.
  void KillAndRestart();
  // SIGTERM and wait: the exit code (0 = clean).
  int Stop();

  // "invoker" or "provider".
  std::string EnrollmentToken(const std::string& purpose);

  const std::string& api_root() const { return api_root_; }
  const std::string& ca_pem() const { return ca_pem_; }
  const std::string& dir() const { return dir_; }
  const std::string& config() const { return config_; }
  // The domain CA certificate file (a peer's trust_bundle) and the bus address.
  std::string ca_path() const { return dir_ + "/pki/ca/ca.pem"; }
  const std::string& bus_endpoint() const { return bus_endpoint_; }
  // http://127.0.0.1:<port>/metrics (Prometheus text).
  const std::string& metrics_url() const { return metrics_url_; }
  Subprocess& process() { return *process_; }

 private:
  void Start();

  std::string dir_, config_, ca_pem_, api_root_, bus_endpoint_, metrics_url_;
  std::unique_ptr<Subprocess> process_;
};

}  // namespace capif

#endif  // CAPIF_INTEROP_TESTS_CCFD_FIXTURE_H_

// A load step of capif-scenario (and tools/capif-load): `in_flight` threads repeat one request
// until `requests` have been sent, each on its own keep-alive connection (or a fresh one per
// request), against the real ccfd processes of the scenario. Reports requests/s, latency
// percentiles, errors, the CPU each ccfd spent per request (from /proc/<pid>/stat) and its
// resident memory after the load (VmRSS).
#ifndef CAPIF_TOOLS_CAPIF_SCENARIO_LOAD_H_
#define CAPIF_TOOLS_CAPIF_SCENARIO_LOAD_H_

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace capif {

struct LoadResult {
  int requests = 0;
  int errors = 0;
  std::string first_error;
  absl::Duration elapsed;
  double per_second = 0;
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0;
  // (process name, CPU milliseconds per request), for each process watched.
  std::vector<std::pair<std::string, double>> cpu_ms_per_request;
  // (process name, resident set size in MB when the load ended), for each process watched.
  std::vector<std::pair<std::string, double>> rss_mb;

  std::string Summary() const;
  nlohmann::json ToJson() const;
};

// Hostile connections held against a server while a load runs: `idle` TCP connections that
// send nothing, and `slowloris` TLS connections that, once their handshake is done, send one
// byte of a request header per second. Stop() reports how many of each the server cut off and
// after how long (it waits at most `wait` for the last ones).
class Attackers {
 public:
  Attackers(int port, int idle, int slowloris);
  ~Attackers();
  std::string Stop(absl::Duration wait);
  nlohmann::json ToJson() const { return result_; }

 private:
  struct Conn;
  void Trickle();
  std::vector<std::unique_ptr<Conn>> conns_;
  std::atomic<bool> stopping_{false};
  std::thread trickler_;
  absl::Time started_;  // when the last attacker was connected
  nlohmann::json result_;
};

// Calls `one(worker, request)` for request = 0..requests-1, from `in_flight` threads (worker =
// 0..in_flight-1, each used by one thread only, so per-worker state needs no lock). A non-OK
// status counts as an error (the first one is kept).
LoadResult RunLoad(int in_flight, int requests,
                   const std::function<absl::Status(int worker, int request)>& one,
                   const std::vector<std::pair<std::string, pid_t>>& watched);

}  // namespace capif

#endif  // CAPIF_TOOLS_CAPIF_SCENARIO_LOAD_H_

#include "tools/capif-scenario/load.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"

namespace capif {

namespace {

// User plus system CPU of a process so far, in seconds (0 if it cannot be read).
double CpuSeconds(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t end = stat.rfind(')');  // the command name may contain spaces
  if (end == std::string::npos) return 0;
  std::istringstream fields(stat.substr(end + 2));
  std::string f;
  double utime = 0, stime = 0;
  for (int i = 3; fields >> f; ++i) {  // field 3 is the state
    if (i == 14) utime = std::stod(f);
    if (i == 15) {
      stime = std::stod(f);
      break;
    }
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t i = static_cast<size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

}  // namespace

LoadResult RunLoad(int in_flight, int requests, const std::function<absl::Status(int)>& one,
                   const std::vector<std::pair<std::string, pid_t>>& watched) {
  in_flight = std::max(1, in_flight);
  std::vector<double> cpu_before;
  for (const auto& [name, pid] : watched) cpu_before.push_back(CpuSeconds(pid));
  std::atomic<int> next{0};
  std::vector<std::vector<double>> latencies(in_flight);
  std::mutex mu;
  LoadResult result;
  absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int w = 0; w < in_flight; ++w) {
    threads.emplace_back([&, w] {
      while (next.fetch_add(1) < requests) {
        absl::Time t0 = absl::Now();
        absl::Status s = one(w);
        latencies[w].push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
        if (!s.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          if (result.errors++ == 0) result.first_error = s.ToString().substr(0, 200);
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  result.elapsed = absl::Now() - start;
  std::vector<double> all;
  for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  result.requests = static_cast<int>(all.size());
  double seconds = std::max(1e-9, absl::ToDoubleSeconds(result.elapsed));
  result.per_second = static_cast<double>(result.requests) / seconds;
  result.p50_ms = Percentile(all, 0.50);
  result.p90_ms = Percentile(all, 0.90);
  result.p99_ms = Percentile(all, 0.99);
  result.max_ms = all.empty() ? 0 : all.back();
  for (size_t i = 0; i < watched.size(); ++i) {
    double used = CpuSeconds(watched[i].second) - cpu_before[i];
    result.cpu_ms_per_request.emplace_back(
        watched[i].first, result.requests > 0 ? used * 1000 / result.requests : 0);
  }
  return result;
}

std::string LoadResult::Summary() const {
  std::vector<std::string> cpu;
  for (const auto& [name, ms] : cpu_ms_per_request) {
    cpu.push_back(absl::StrFormat("%s %.2f ms", name, ms));
  }
  return absl::StrFormat(
      "%d requests, %d errors, %.0f/s, p50 %.1f ms, p90 %.1f ms, p99 %.1f ms; CPU per request: %s%s",
      requests, errors, per_second, p50_ms, p90_ms, p99_ms, absl::StrJoin(cpu, ", "),
      errors > 0 ? "; first error: " + first_error : "");
}

nlohmann::json LoadResult::ToJson() const {
  nlohmann::json cpu = nlohmann::json::object();
  for (const auto& [name, ms] : cpu_ms_per_request) cpu[name] = ms;
  return {{"requests", requests}, {"errors", errors},       {"per_second", per_second},
          {"p50_ms", p50_ms},     {"p90_ms", p90_ms},       {"p99_ms", p99_ms},
          {"max_ms", max_ms},     {"cpu_ms_per_request", cpu}, {"first_error", first_error}};
}

}  // namespace capif

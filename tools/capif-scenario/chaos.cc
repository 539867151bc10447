#include "tools/capif-scenario/chaos.h"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace capif {
namespace {

using nlohmann::json;

absl::Status Invalid(const std::string& field, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
}

// A number of seconds in [min, max] at `j[key]`, or `fallback` when absent.
absl::StatusOr<double> Seconds(const json& j, const std::string& key, const std::string& field,
                               double min, double max, double fallback) {
  if (!j.contains(key)) return fallback;
  if (!j[key].is_number()) return Invalid(field, "must be a number of seconds");
  double v = j[key].get<double>();
  if (!(v >= min && v <= max)) return Invalid(field, absl::StrCat("must be ", min, " to ", max));
  return v;
}

}  // namespace

const char* ChaosActionName(ChaosAction::Kind kind) {
  switch (kind) {
    case ChaosAction::kKill: return "kill";
    case ChaosAction::kRestart: return "restart";
    case ChaosAction::kPause: return "pause";
    case ChaosAction::kResume: return "resume";
    case ChaosAction::kRotateTokenKey: return "rotate_token_key";
    case ChaosAction::kStarveFds: return "fd_limit";
    case ChaosAction::kRestoreFds: return "fd_restore";
  }
  return "?";
}

absl::StatusOr<ChaosPlan> ParseChaosPlan(const json& step, const std::set<std::string>& ccfs) {
  static const std::set<std::string> kKeys = {"chaos", "aef", "seconds", "cycle", "faults",
                                              "in_flight", "recover_seconds", "rss_tolerance",
                                              "warmup_seconds", "name", "expect"};
  for (const auto& [k, v] : step.items()) {
    if (kKeys.count(k) == 0) return Invalid("chaos." + k, "unknown field");
  }
  ChaosPlan p;
  absl::StatusOr<double> run = Seconds(step, "seconds", "chaos.seconds", 10, 3600, 60);
  if (!run.ok()) return run.status();
  p.run = absl::Seconds(*run);
  absl::StatusOr<double> cycle = Seconds(step, "cycle", "chaos.cycle", 5, 3600, *run);
  if (!cycle.ok()) return cycle.status();
  p.cycle = absl::Seconds(*cycle);
  absl::StatusOr<double> recover = Seconds(step, "recover_seconds", "chaos.recover_seconds", 1, 600, 60);
  if (!recover.ok()) return recover.status();
  p.recover = absl::Seconds(*recover);
  // Caches fill up first (SQLite's page caches, allocator arenas): by default the baseline is
  // taken a fifth of the run (at least 10 s) after a start.
  absl::StatusOr<double> warmup = Seconds(step, "warmup_seconds", "chaos.warmup_seconds", 0, 600,
                                          std::max(10.0, *run / 5));
  if (!warmup.ok()) return warmup.status();
  p.warmup = absl::Seconds(*warmup);
  if (step.contains("in_flight")) {
    if (!step["in_flight"].is_number_integer() || step["in_flight"].get<int>() < 1 ||
        step["in_flight"].get<int>() > 64) {
      return Invalid("chaos.in_flight", "must be 1 to 64");
    }
    p.in_flight = step["in_flight"].get<int>();
  }
  if (step.contains("rss_tolerance")) {
    if (!step["rss_tolerance"].is_number() || step["rss_tolerance"].get<double>() <= 0 ||
        step["rss_tolerance"].get<double>() > 10) {
      return Invalid("chaos.rss_tolerance", "must be a fraction above 0 (0.1 is 10 %)");
    }
    p.rss_tolerance = step["rss_tolerance"].get<double>();
  }
  static const std::map<std::string, ChaosAction::Kind> kFaults = {
      {"kill", ChaosAction::kKill},
      {"restart", ChaosAction::kRestart},
      {"pause", ChaosAction::kPause},
      {"rotate_token_key", ChaosAction::kRotateTokenKey},
      {"fd_limit", ChaosAction::kStarveFds}};
  const json faults = step.value("faults", json::array());
  if (!faults.is_array()) return Invalid("chaos.faults", "must be an array");
  for (size_t i = 0; i < faults.size(); ++i) {
    const std::string field = absl::StrCat("chaos.faults[", i, "]");
    const json& f = faults[i];
    if (!f.is_object()) return Invalid(field, "must be an object");
    absl::StatusOr<double> at = Seconds(f, "at", field + ".at", 0, *cycle, -1);
    if (!at.ok()) return at.status();
    if (*at < 0) return Invalid(field + ".at", "is required (seconds into the cycle)");
    int kinds = 0;
    ChaosAction a{absl::Seconds(*at), ChaosAction::kKill, ""};
    for (const auto& [name, kind] : kFaults) {
      if (!f.contains(name)) continue;
      ++kinds;
      a.kind = kind;
      if (!f[name].is_string() || ccfs.count(f[name].get<std::string>()) == 0) {
        return Invalid(field + "." + name, "must name a CCF of the scenario");
      }
      a.ccf = f[name].get<std::string>();
    }
    if (kinds != 1) {
      return Invalid(field, "needs exactly one of kill, restart, pause, rotate_token_key, fd_limit");
    }
    p.faults.push_back(a);
    if (a.kind == ChaosAction::kPause || a.kind == ChaosAction::kStarveFds) {
      absl::StatusOr<double> span = Seconds(f, "for", field + ".for", 0.1, 120, -1);
      if (!span.ok()) return span.status();
      if (*span < 0) return Invalid(field + ".for", "is required (seconds)");
      p.faults.push_back({a.at + absl::Seconds(*span),
                          a.kind == ChaosAction::kPause ? ChaosAction::kResume
                                                        : ChaosAction::kRestoreFds,
                          a.ccf});
    } else if (f.contains("for")) {
      return Invalid(field + ".for", "only for pause and fd_limit");
    }
  }
  return p;
}

std::vector<ChaosAction> ChaosPlan::Timeline() const {
  std::vector<ChaosAction> out;
  for (absl::Duration start = absl::ZeroDuration(); start < run; start += cycle) {
    for (const ChaosAction& a : faults) {
      bool ends_something = a.kind == ChaosAction::kResume || a.kind == ChaosAction::kRestoreFds;
      if (start + a.at < run) {
        out.push_back({start + a.at, a.kind, a.ccf});
      } else if (ends_something) {
        // Its start happened in this cycle (or it would not matter): end it with the run.
        out.push_back({run, a.kind, a.ccf});
      }
    }
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const ChaosAction& x, const ChaosAction& y) { return x.at < y.at; });
  // An end without its start (the start fell beyond the run) is dropped.
  std::vector<ChaosAction> kept;
  std::map<std::pair<std::string, int>, int> open;  // (ccf, kind started) -> how many
  for (const ChaosAction& a : out) {
    if (a.kind == ChaosAction::kPause || a.kind == ChaosAction::kStarveFds) {
      ++open[{a.ccf, a.kind}];
    } else if (a.kind == ChaosAction::kResume || a.kind == ChaosAction::kRestoreFds) {
      int started = a.kind == ChaosAction::kResume ? ChaosAction::kPause : ChaosAction::kStarveFds;
      int& n = open[{a.ccf, started}];
      if (n == 0) continue;
      --n;
    }
    kept.push_back(a);
  }
  return kept;
}

double ResidentMb(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) != 0) continue;
    std::string digits;
    for (char c : line) {
      if (c >= '0' && c <= '9') digits += c;
    }
    double kb = 0;
    return absl::SimpleAtod(digits, &kb) ? kb / 1024.0 : 0;
  }
  return 0;
}

int OpenFds(pid_t pid) {
  std::error_code ec;
  int n = 0;
  for (auto it = std::filesystem::directory_iterator(absl::StrCat("/proc/", pid, "/fd"), ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return ec ? -1 : n;
}

absl::Status SetFdLimit(pid_t pid, long soft, long* previous) {
  struct rlimit old {};
  if (::prlimit(pid, RLIMIT_NOFILE, nullptr, &old) != 0) {
    return absl::InternalError(absl::StrCat("prlimit: ", std::strerror(errno)));
  }
  struct rlimit now = old;
  now.rlim_cur = static_cast<rlim_t>(std::min<long>(soft, static_cast<long>(old.rlim_max)));
  if (::prlimit(pid, RLIMIT_NOFILE, &now, nullptr) != 0) {
    return absl::InternalError(absl::StrCat("prlimit: ", std::strerror(errno)));
  }
  if (previous != nullptr) *previous = static_cast<long>(old.rlim_cur);
  return absl::OkStatus();
}

}  // namespace capif

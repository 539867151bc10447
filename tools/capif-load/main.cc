// capif-load [SCENARIO.json] [--requests N] [--in-flight N] [--seconds N] [--out DIR]: the load
// benchmark. Runs a capif-scenario scenario whose "load" steps drive real ccfd processes over
// real mTLS (docs/performance.md), optionally overriding every load step's request count and
// concurrency, and prints each step's requests/s, latency percentiles, errors and CPU per
// request of each ccfd; the figures are also in <out>/load.jsonl. --seconds sets how long every
// "chaos" step runs (its faults repeat each cycle; docs/reliability.md).
#include <filesystem>
#include <system_error>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/file_io.h"
#include "tools/capif-scenario/scenario.h"

int main(int argc, char** argv) {
  constexpr char kUsage[] =
      "usage: capif-load [SCENARIO.json] [--requests N] [--in-flight N] [--seconds N] [--out DIR]\n"
      "  SCENARIO defaults to tools/capif-load/two-domains.json (run from the repository root)\n";
  std::string file = "tools/capif-load/two-domains.json", out_dir;
  int requests = 0, in_flight = 0, seconds = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto number = [&](int* v) {
      return i + 1 < argc && absl::SimpleAtoi(argv[++i], v) && *v > 0;
    };
    if (a == "--requests") {
      if (!number(&requests)) return std::cerr << kUsage, 2;
    } else if (a == "--in-flight") {
      if (!number(&in_flight)) return std::cerr << kUsage, 2;
    } else if (a == "--seconds") {
      if (!number(&seconds)) return std::cerr << kUsage, 2;
    } else if (a == "--out" && i + 1 < argc) {
      out_dir = argv[++i];
    } else if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (!a.empty() && a[0] != '-') {
      file = a;
    } else {
      std::cerr << "capif-load: unexpected argument '" << a << "'\n" << kUsage;
      return 2;
    }
  }
  auto text = capif::ReadFile(file);
  if (!text.ok()) {
    std::cerr << "capif-load: " << file << ": " << text.status().message() << "\n";
    return 2;
  }
  nlohmann::json scenario = nlohmann::json::parse(*text, nullptr, false);
  if (!scenario.is_object() || !scenario["steps"].is_array()) {
    std::cerr << "capif-load: " << file << " is not a scenario\n";
    return 2;
  }
  for (nlohmann::json& step : scenario["steps"]) {
    if (step.contains("chaos") && seconds > 0) step["seconds"] = seconds;
    if (!step.contains("load")) continue;
    if (requests > 0) step["requests"] = requests;
    if (in_flight > 0) step["in_flight"] = in_flight;
  }
  capif::ScenarioOptions o;
  if (out_dir.empty()) out_dir = absl::StrCat("capif-load-out/", absl::ToUnixSeconds(absl::Now()));
  o.out_dir = out_dir;
  // The scenario as run, beside its results (the runner wants the out dir new or empty: keep
  // the file one level up).
  o.file = out_dir + ".json";
  std::error_code made;
  std::filesystem::create_directories(std::filesystem::path(o.file).parent_path(), made);
  if (auto written = capif::WriteFileAtomic(o.file, scenario.dump(2)); !written.ok()) {
    std::cerr << "capif-load: " << written.message() << "\n";
    return 2;
  }
  o.bin_dir = capif::DefaultBinDir(argv[0]);  // ccfd and the tools beside capif-load
  return capif::RunScenario(o, std::cout, std::cerr);
}

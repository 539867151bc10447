// capif-scenario run FILE.json [--out DIR]: see scenario.h and docs/scenarios.md.
#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tools/capif-scenario/scenario.h"

int main(int argc, char** argv) {
  constexpr char kUsage[] =
      "usage: capif-scenario run FILE.json [--out DIR] [--bin-dir DIR]\n"
      "  DIR defaults to ./capif-scenario-out/<file name>-<time>; --bin-dir to the build output\n"
      "  this binary came from (it runs ccfd, capif-pki, capifctl and capif-sample-aef from there)\n";
  if (argc < 3 || std::string(argv[1]) != "run") {
    std::cerr << kUsage;
    return argc == 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") ? 0 : 2;
  }
  capif::ScenarioOptions o;
  o.file = argv[2];
  for (int i = 3; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--out" && i + 1 < argc) {
      o.out_dir = argv[++i];
    } else if (a == "--bin-dir" && i + 1 < argc) {
      o.bin_dir = argv[++i];
    } else {
      std::cerr << "capif-scenario: unexpected argument '" << a << "'\n" << kUsage;
      return 2;
    }
  }
  if (o.bin_dir.empty()) o.bin_dir = capif::DefaultBinDir(argv[0]);
  if (o.out_dir.empty()) {
    std::string base = o.file.substr(o.file.rfind('/') + 1);
    base = base.substr(0, base.rfind('.'));
    o.out_dir = absl::StrCat("capif-scenario-out/", base, "-", absl::ToUnixSeconds(absl::Now()));
  }
  return capif::RunScenario(o, std::cout, std::cerr);
}

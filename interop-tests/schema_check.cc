#include "interop-tests/schema_check.h"

#include <sys/stat.h>

#include <climits>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "common/file_io.h"
#include "common/subprocess.h"
#include "common/testing/test_paths.h"

namespace capif {
namespace {

bool IsDir(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string SpecDir() {
  const char* env = std::getenv("CAPIF_SPECS_DIR");
  if (env != nullptr && *env != '\0') return env;
  char real[PATH_MAX];
  std::string script = Runfile("interop-tests/schema/validate.py");
  if (realpath(script.c_str(), real) == nullptr) return "";
  std::string root(real);
  for (int i = 0; i < 3; ++i) root = root.substr(0, root.rfind('/'));  // .../<workspace>
  return root.substr(0, root.rfind('/')) + "/shared/specs/ts29222-rel18";
}

}  // namespace

absl::Status MatchesSpec(const nlohmann::json& document, const std::string& schema_ref) {
  static int counter = 0;
  std::string dir = SpecDir();
  if (!IsDir(dir)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "TS 29.222 specs not found at '", dir, "' (set CAPIF_SPECS_DIR)"));
  }
  std::string path = TestTmpDir(absl::StrCat("schema-doc-", ++counter, ".json"));
  absl::Status w = WriteFileAtomic(path, document.dump());
  if (!w.ok()) return w;
  auto r = RunToCompletion({"/usr/bin/python3", Runfile("interop-tests/schema/validate.py"), dir,
                            schema_ref, path},
                           absl::Seconds(60));
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    return absl::InvalidArgumentError(absl::StrCat("does not match ", schema_ref, ":\n", r->err));
  }
  return absl::OkStatus();
}

}  // namespace capif

// Paths inside a Bazel test: runfiles (binaries a test depends on through `data`) and the
// per-test scratch directory. testonly; thread-safe.
#ifndef CAPIF_COMMON_TESTING_TEST_PATHS_H_
#define CAPIF_COMMON_TESTING_TEST_PATHS_H_

#include <cstdlib>
#include <string>

namespace capif {

// `path` relative to the workspace root, e.g. Runfile("ccf/ccfd").
inline std::string Runfile(const std::string& path) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  return std::string(srcdir != nullptr ? srcdir : ".") + "/capif_fed/" + path;
}

// A directory private to this test run (Bazel's TEST_TMPDIR), with `sub` appended if given.
inline std::string TestTmpDir(const std::string& sub = "") {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string base = dir != nullptr ? dir : "/tmp";
  return sub.empty() ? base : base + "/" + sub;
}

}  // namespace capif

#endif  // CAPIF_COMMON_TESTING_TEST_PATHS_H_

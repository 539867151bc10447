// How much slower than usual the tests run: CAPIF_TEST_TIME_SCALE, which `tools/dev check-tsan`
// sets to 3 (ThreadSanitizer runs code 5 to 15 times slower); 1 when unset or not a number
// of at least 1. A test multiplies the short real-time deadlines it gives the code under test
// (a 500 ms header deadline) by it, so that a slow build does not turn a deadline into a
// failure. The test's own waits stay event-driven. testonly; thread-safe.
#ifndef CAPIF_COMMON_TESTING_TIME_SCALE_H_
#define CAPIF_COMMON_TESTING_TIME_SCALE_H_

#include <cstdlib>

#include "absl/time/time.h"

namespace capif {

inline double TestTimeScale() {
  const char* v = std::getenv("CAPIF_TEST_TIME_SCALE");
  double scale = v != nullptr ? std::atof(v) : 1.0;
  return scale >= 1.0 ? scale : 1.0;
}

inline absl::Duration Scaled(absl::Duration d) { return d * TestTimeScale(); }

}  // namespace capif

#endif  // CAPIF_COMMON_TESTING_TIME_SCALE_H_

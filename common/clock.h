// Time source for all logic. Code never reads the wall clock directly: it takes a Clock& so tests
// can substitute FakeClock (fake_clock.h) and advance time without sleeping.
//
// Thread-safe: Now() may be called from any thread.
#ifndef CAPIF_COMMON_CLOCK_H_
#define CAPIF_COMMON_CLOCK_H_

#include "absl/time/time.h"

namespace capif {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;

  // The process-wide real clock (absl::Now()). Never destroyed.
  static Clock& Real();
};

}  // namespace capif

#endif  // CAPIF_COMMON_CLOCK_H_

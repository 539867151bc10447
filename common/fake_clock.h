// A Clock for tests: time moves only when the test says so. Thread-safe.
//
//   FakeClock clock(absl::FromUnixSeconds(1700000000));
//   clock.Advance(absl::Minutes(5));
#ifndef CAPIF_COMMON_FAKE_CLOCK_H_
#define CAPIF_COMMON_FAKE_CLOCK_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace capif {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1700000000)) : now_(start) {}

  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }
  void Set(absl::Time t) {
    absl::MutexLock lock(&mu_);
    now_ = t;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace capif

#endif  // CAPIF_COMMON_FAKE_CLOCK_H_

// TokenBucket: at most `rate` events a second on average, in bursts of up to max(1, rate), for
// rate limits on work that untrusted input can start (ownership fan-outs, AEF lookups of unknown
// PSK identities). Time comes from the caller (an injected clock).
//
//   TokenBucket bucket(20, clock.Now());
//   if (!bucket.TryTake(clock.Now())) return absl::UnavailableError("retry later");
//
// Not thread-safe: callers hold their own lock around it.
#ifndef CAPIF_COMMON_TOKEN_BUCKET_H_
#define CAPIF_COMMON_TOKEN_BUCKET_H_

#include <algorithm>

#include "absl/time/time.h"

namespace capif {

class TokenBucket {
 public:
  TokenBucket(double rate, absl::Time now)
      : rate_(rate), burst_(std::max(1.0, rate)), tokens_(burst_), refilled_(now) {}

  // Refills for the time since the last call, then takes one token if there is one.
  bool TryTake(absl::Time now) {
    if (now > refilled_) {
      tokens_ = std::min(burst_, tokens_ + absl::ToDoubleSeconds(now - refilled_) * rate_);
      refilled_ = now;
    }
    if (tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
  }

 private:
  const double rate_;
  const double burst_;
  double tokens_;
  absl::Time refilled_;
};

}  // namespace capif

#endif  // CAPIF_COMMON_TOKEN_BUCKET_H_

#include "net/request_metrics.h"

#include <algorithm>


namespace capif {

void RequestMetrics::Record(const Labels& labels, absl::Duration latency) {
  double seconds = std::max(0.0, absl::ToDoubleSeconds(latency));
  size_t bucket = std::lower_bound(kBuckets.begin(), kBuckets.end(), seconds) - kBuckets.begin();
  absl::MutexLock lock(&mu_);
  Series& s = series_[labels];
  if (s.count == 0) s.labels = labels;
  ++s.count;
  s.sum_seconds += seconds;
  if (bucket < kBuckets.size()) ++s.buckets[bucket];
}

std::vector<RequestMetrics::Series> RequestMetrics::Snapshot() const {
  absl::MutexLock lock(&mu_);
  std::vector<Series> out;
  out.reserve(series_.size());
  for (const auto& [labels, s] : series_) out.push_back(s);
  std::sort(out.begin(), out.end(),
            [](const Series& a, const Series& b) { return a.labels < b.labels; });
  return out;
}

}  // namespace capif

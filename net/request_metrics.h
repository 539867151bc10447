// RequestMetrics: request counts and latency histograms by three labels, for Prometheus.
// The northbound records (api, method, status) per answered request, the bus (peer, operation,
// status) per call; ccf/daemon/metrics exports them. Label values must come from bounded sets
// (route names, configured peers, status codes), never from raw input.
//
//   RequestMetrics m;
//   m.Record({"capif-security", "PUT", "201"}, absl::Milliseconds(3));
//   for (const RequestMetrics::Series& s : m.Snapshot()) ...
//
// Thread-safe; Record() takes one short lock.
#ifndef CAPIF_NET_REQUEST_METRICS_H_
#define CAPIF_NET_REQUEST_METRICS_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace capif {

class RequestMetrics {
 public:
  using Labels = std::array<std::string, 3>;
  // Upper bounds of the histogram buckets, in seconds (+Inf is implied).
  static constexpr std::array<double, 13> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                      0.025,  0.05,  0.1,    0.25,  0.5,
                                                      1,      2.5,   10};
  struct Series {
    Labels labels;
    uint64_t count = 0;
    double sum_seconds = 0;
    std::array<uint64_t, kBuckets.size()> buckets{};  // not cumulative
  };

  void Record(const Labels& labels, absl::Duration latency);
  std::vector<Series> Snapshot() const;

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<Labels, Series> series_ ABSL_GUARDED_BY(mu_);
};

}  // namespace capif

#endif  // CAPIF_NET_REQUEST_METRICS_H_

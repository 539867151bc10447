// CcfMetrics: what an operator watches on a CCF, in the Prometheus text format, computed at each
// scrape (no counters to keep in step):
//
//   capif_peer_bundle_sequence{peer}             sequence of the held bundle (absent: none held)
//   capif_peer_bundle_age_seconds{peer}          time since the held bundle was fetched
//   capif_peer_bundle_refresh_ok{peer}           1 if the last refresh succeeded, else 0
//   capif_peer_bundle_refresh_failures{peer}     consecutive failed refreshes
//   capif_outbox_pending{kind,destination}       notices not acknowledged yet (dead letters not)
//   capif_outbox_oldest_pending_seconds          age of the oldest one (0 when empty)
//   capif_outbox_dead_letters{kind,destination}  notices given up (kept for the operator)
//   capif_outbox_destination_failures{destination}  consecutive failed attempts of a failing one
//
// Served by prometheus-cpp's pull exposer (Debian's prometheus-cpp) at http://<listen>/metrics
// when the configuration has "metrics": {"listen": "host:port"}. Plain HTTP: bind it to a
// management address. Thread-safe.
#ifndef CAPIF_CCF_DAEMON_METRICS_H_
#define CAPIF_CCF_DAEMON_METRICS_H_

#include <memory>
#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>

#include "absl/status/statusor.h"
#include "ccf/notices/notice_dispatcher.h"
#include "ccf/store/stores.h"
#include "common/clock.h"
#include "federation/peer_bundles.h"

namespace capif {

class CcfMetrics final : public prometheus::Collectable {
 public:
  // Each source may be null (not reported); all must outlive this object.
  CcfMetrics(std::vector<std::string> peer_ids, const PeerBundles* bundles, NoticeOutbox* outbox,
             const Clock& clock, const NoticeDispatcher* dispatcher = nullptr)
      : peer_ids_(std::move(peer_ids)),
        bundles_(bundles),
        outbox_(outbox),
        clock_(clock),
        dispatcher_(dispatcher) {}

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const std::vector<std::string> peer_ids_;
  const PeerBundles* const bundles_;
  NoticeOutbox* const outbox_;
  const Clock& clock_;
  const NoticeDispatcher* const dispatcher_;
};

// Serves `metrics` at http://<listen>/metrics; the bound port is in GetListeningPorts().
// Unavailable when the address cannot be bound.
absl::StatusOr<std::unique_ptr<prometheus::Exposer>> ServeMetrics(
    const std::string& listen, const std::shared_ptr<CcfMetrics>& metrics);

}  // namespace capif

#endif  // CAPIF_CCF_DAEMON_METRICS_H_

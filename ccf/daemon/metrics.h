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
//   capif_http_requests_total{api,method,status}       northbound requests answered, and
//   capif_http_request_duration_seconds{api,method,status}  their latency (histogram)
//   capif_http_open_connections, capif_http_refused_connections_total (beyond max_connections),
//   capif_http_overloaded_requests_total (503), capif_http_timeouts_total (any deadline)
//   capif_bus_calls_total{peer,operation,status}       bus calls this CCF answered, and
//   capif_bus_call_duration_seconds{peer,operation,status}  their duration (histogram)
//   capif_bus_client_calls_total{peer,operation,status}     bus calls this CCF made, and
//   capif_bus_client_call_duration_seconds{...}             their duration (histogram)
//   capif_peer_answering{peer}                   0 while calls to the peer fail at once
//   capif_peer_calls_refused_total{peer}         calls refused at once because it did not answer
//   capif_peer_shared_apis_age_seconds{peer}     age of its shared APIs kept (absent: never had)
//   capif_peer_shared_apis_refresh_ok{peer}      1 if the last fetch of them succeeded, else 0
//   capif_peer_shared_apis_stale_answers_total{peer}    Discover answers served from a stale copy
//   capif_peer_shared_apis_missing_answers_total{peer}  answers without its APIs (none kept)
//
// Served by prometheus-cpp's pull exposer (Debian's prometheus-cpp) at http://<listen>/metrics
// when the configuration has "metrics": {"listen": "host:port"}. Plain HTTP: bind it to a
// management address. Thread-safe.
#ifndef CAPIF_CCF_DAEMON_METRICS_H_
#define CAPIF_CCF_DAEMON_METRICS_H_

#include <functional>
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
#include "federation/peer_breaker.h"
#include "federation/peer_bundles.h"
#include "federation/shared_api_cache.h"
#include "net/https_server.h"
#include "net/request_metrics.h"

namespace capif {

// Request and call counts of the servers; each may be null/empty (not reported).
struct TrafficSources {
  const RequestMetrics* northbound = nullptr;  // labels (api, method, status)
  std::function<HttpsServer::Stats()> northbound_stats;
  const RequestMetrics* bus = nullptr;  // labels (peer, operation, status)
  const RequestMetrics* bus_client = nullptr;  // calls made to peers: (peer, operation, status)
  std::function<std::vector<SharedApiCache::PeerStatus>()> shared_apis;
  std::function<std::vector<std::pair<std::string, PeerBreaker::Stats>>()> peer_breakers;
};

class CcfMetrics final : public prometheus::Collectable {
 public:
  // Each source may be null (not reported); all must outlive this object.
  CcfMetrics(std::vector<std::string> peer_ids, const PeerBundles* bundles, NoticeOutbox* outbox,
             const Clock& clock, const NoticeDispatcher* dispatcher = nullptr,
             TrafficSources traffic = {})
      : peer_ids_(std::move(peer_ids)),
        bundles_(bundles),
        outbox_(outbox),
        clock_(clock),
        dispatcher_(dispatcher),
        traffic_(std::move(traffic)) {}

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const std::vector<std::string> peer_ids_;
  const PeerBundles* const bundles_;
  NoticeOutbox* const outbox_;
  const Clock& clock_;
  const NoticeDispatcher* const dispatcher_;
  const TrafficSources traffic_;
};

// Serves `metrics` at http://<listen>/metrics; the bound port is in GetListeningPorts().
// Unavailable when the address cannot be bound.
absl::StatusOr<std::unique_ptr<prometheus::Exposer>> ServeMetrics(
    const std::string& listen, const std::shared_ptr<CcfMetrics>& metrics);

}  // namespace capif

#endif  // CAPIF_CCF_DAEMON_METRICS_H_

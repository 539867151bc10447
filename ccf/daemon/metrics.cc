#include "ccf/daemon/metrics.h"

#include <prometheus/client_metric.h>
#include <prometheus/metric_type.h>

#include <exception>
#include <limits>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "ccf/store/event_subscriptions.h"

namespace capif {

// The destination label of every event subscription's notifications (bounded cardinality).
constexpr char kEventSubscriptionsLabel[] = "event-subscriptions";

namespace {

prometheus::MetricFamily Gauges(const std::string& name, const std::string& help) {
  return {name, help, prometheus::MetricType::Gauge, {}};
}

// One sample of a gauge or counter family (by the family's type).
void Add(prometheus::MetricFamily& family, double value,
         std::vector<std::pair<std::string, std::string>> labels = {}) {
  prometheus::ClientMetric m;
  for (auto& [k, v] : labels) m.label.push_back({k, v});
  if (family.type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  family.metric.push_back(std::move(m));
}

prometheus::MetricFamily Counters(const std::string& name, const std::string& help,
                                  double value) {
  prometheus::MetricFamily f{name, help, prometheus::MetricType::Counter, {}};
  prometheus::ClientMetric m;
  m.counter.value = value;
  f.metric.push_back(std::move(m));
  return f;
}

// A counter and a histogram family from `metrics`, labelled with `names`.
void AddTraffic(const RequestMetrics& metrics, const std::array<std::string, 3>& names,
                const std::string& counter, const std::string& histogram,
                const std::string& what, std::vector<prometheus::MetricFamily>& out) {
  prometheus::MetricFamily count{counter, absl::StrCat(what, " answered."),
                                 prometheus::MetricType::Counter, {}};
  prometheus::MetricFamily latency{histogram, absl::StrCat(what, ": time to the answer."),
                                   prometheus::MetricType::Histogram, {}};
  for (const RequestMetrics::Series& s : metrics.Snapshot()) {
    prometheus::ClientMetric c;
    for (size_t i = 0; i < names.size(); ++i) c.label.push_back({names[i], s.labels[i]});
    prometheus::ClientMetric h = c;
    c.counter.value = static_cast<double>(s.count);
    count.metric.push_back(std::move(c));
    h.histogram.sample_count = s.count;
    h.histogram.sample_sum = s.sum_seconds;
    uint64_t cumulative = 0;
    for (size_t b = 0; b < RequestMetrics::kBuckets.size(); ++b) {
      cumulative += s.buckets[b];
      h.histogram.bucket.push_back({cumulative, RequestMetrics::kBuckets[b]});
    }
    h.histogram.bucket.push_back({s.count, std::numeric_limits<double>::infinity()});
    latency.metric.push_back(std::move(h));
  }
  out.push_back(std::move(count));
  out.push_back(std::move(latency));
}

}  // namespace

std::vector<prometheus::MetricFamily> CcfMetrics::Collect() const {
  std::vector<prometheus::MetricFamily> out;
  absl::Time now = clock_.Now();
  if (bundles_ != nullptr) {
    auto sequence = Gauges("capif_peer_bundle_sequence", "Sequence of the peer's held trust bundle.");
    auto age = Gauges("capif_peer_bundle_age_seconds", "Seconds since the held bundle was fetched.");
    auto ok = Gauges("capif_peer_bundle_refresh_ok", "1 if the last bundle refresh succeeded.");
    auto failures = Gauges("capif_peer_bundle_refresh_failures",
                           "Consecutive failed refreshes of the peer's trust bundle.");
    for (const std::string& id : peer_ids_) {
      PeerBundleStatus s = bundles_->Status(id);
      if (s.last_good) {
        Add(sequence, static_cast<double>(s.last_good->sequence), {{"peer", id}});
        Add(age, absl::ToDoubleSeconds(now - s.last_good->fetched_at), {{"peer", id}});
      }
      Add(ok, s.last_error.empty() && s.last_good ? 1 : 0, {{"peer", id}});
      Add(failures, s.failures, {{"peer", id}});
    }
    for (auto* f : {&sequence, &age, &ok, &failures}) out.push_back(std::move(*f));
  }
  if (outbox_ != nullptr) {
    auto pending = outbox_->Pending();
    if (pending.ok()) {
      auto count = Gauges("capif_outbox_pending",
                          "Offboarding/revocation notices not acknowledged yet.");
      auto oldest = Gauges("capif_outbox_oldest_pending_seconds",
                           "Age of the oldest unacknowledged notice (0 when none).");
      auto dead = Gauges("capif_outbox_dead_letters",
                         "Notices given up after the dead-letter age (kept for the operator).");
      std::map<std::pair<std::string, std::string>, int> by, dead_by;
      double oldest_s = 0;
      for (const OutboundNotice& n : *pending) {
        // Event notifications are per subscription, which anyone may make: one label for all.
        const std::string destination =
            n.kind == kNoticeCapifEvent ? std::string(kEventSubscriptionsLabel) : n.destination;
        if (n.dead()) {
          ++dead_by[{n.kind, destination}];
          continue;
        }
        ++by[{n.kind, destination}];
        oldest_s = std::max(oldest_s, absl::ToDoubleSeconds(now - n.created));
      }
      for (const auto& [key, n] : by) {
        Add(count, n, {{"kind", key.first}, {"destination", key.second}});
      }
      for (const auto& [key, n] : dead_by) {
        Add(dead, n, {{"kind", key.first}, {"destination", key.second}});
      }
      Add(oldest, oldest_s);
      out.push_back(std::move(count));
      out.push_back(std::move(oldest));
      out.push_back(std::move(dead));
    }
  }
  if (dispatcher_ != nullptr) {
    auto failures = Gauges("capif_outbox_destination_failures",
                           "Consecutive failed delivery attempts of a destination failing now.");
    std::map<std::string, int> failing;  // subscriptions under one label (their worst)
    const std::map<std::string, std::string> kinds = dispatcher_->FailingDestinationKinds();
    for (const auto& [destination, n] : dispatcher_->FailingDestinations()) {
      auto kind = kinds.find(destination);
      bool subscription = kind != kinds.end() && kind->second == kNoticeCapifEvent;
      int& worst = failing[subscription ? std::string(kEventSubscriptionsLabel) : destination];
      worst = std::max(worst, n);
    }
    for (const auto& [destination, n] : failing) Add(failures, n, {{"destination", destination}});
    out.push_back(std::move(failures));
  }
  if (traffic_.northbound != nullptr) {
    AddTraffic(*traffic_.northbound, {"api", "method", "status"}, "capif_http_requests_total",
               "capif_http_request_duration_seconds", "Northbound HTTPS requests", out);
  }
  if (traffic_.northbound_stats) {
    HttpsServer::Stats stats = traffic_.northbound_stats();
    auto open = Gauges("capif_http_open_connections", "Northbound connections open now.");
    Add(open, static_cast<double>(stats.open_connections));
    out.push_back(std::move(open));
    out.push_back(Counters("capif_http_refused_connections_total",
                           "Northbound connections closed at once: beyond max_connections.",
                           static_cast<double>(stats.refused_connections)));
    out.push_back(Counters("capif_http_overloaded_requests_total",
                           "Northbound requests answered 503 because every worker was busy.",
                           static_cast<double>(stats.overloaded_requests)));
    out.push_back(Counters("capif_http_timeouts_total",
                           "Northbound connections ended by a handshake, header, body or write "
                           "deadline.",
                           static_cast<double>(stats.timeouts)));
  }
  if (traffic_.bus != nullptr) {
    AddTraffic(*traffic_.bus, {"peer", "operation", "status"}, "capif_bus_calls_total",
               "capif_bus_call_duration_seconds", "Bus calls from peers", out);
  }
  if (traffic_.bus_client != nullptr) {
    AddTraffic(*traffic_.bus_client, {"peer", "operation", "status"},
               "capif_bus_client_calls_total", "capif_bus_client_call_duration_seconds",
               "Bus calls to peers", out);
  }
  if (traffic_.peer_breakers) {
    auto answering = Gauges("capif_peer_answering",
                            "1 while the peer answers; 0 while calls to it fail at once.");
    prometheus::MetricFamily refused{"capif_peer_calls_refused_total",
                                     "Calls to the peer refused at once: it was not answering.",
                                     prometheus::MetricType::Counter, {}};
    for (const auto& [peer, stats] : traffic_.peer_breakers()) {
      Add(answering, stats.answering ? 1 : 0, {{"peer", peer}});
      Add(refused, static_cast<double>(stats.refused), {{"peer", peer}});
    }
    out.push_back(std::move(answering));
    out.push_back(std::move(refused));
  }
  if (traffic_.shared_apis) {
    auto age = Gauges("capif_peer_shared_apis_age_seconds",
                      "Age of the peer's shared APIs this CCF keeps (absent: never had them).");
    auto ok = Gauges("capif_peer_shared_apis_refresh_ok",
                     "1 if the last fetch of the peer's shared APIs succeeded, else 0.");
    prometheus::MetricFamily stale{"capif_peer_shared_apis_stale_answers_total",
                                   "Discover answers that used a stale copy of the peer's APIs.",
                                   prometheus::MetricType::Counter, {}};
    prometheus::MetricFamily missing{"capif_peer_shared_apis_missing_answers_total",
                                     "Discover answers without the peer's APIs: none kept and "
                                     "the peer did not answer.",
                                     prometheus::MetricType::Counter, {}};
    for (const SharedApiCache::PeerStatus& p : traffic_.shared_apis()) {
      if (p.fetched) Add(age, absl::ToDoubleSeconds(p.age), {{"peer", p.peer}});
      Add(ok, p.fetched && !p.failing ? 1 : 0, {{"peer", p.peer}});
      Add(stale, static_cast<double>(p.stale_answers), {{"peer", p.peer}});
      Add(missing, static_cast<double>(p.missing_answers), {{"peer", p.peer}});
    }
    out.push_back(std::move(age));
    out.push_back(std::move(ok));
    out.push_back(std::move(stale));
    out.push_back(std::move(missing));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<prometheus::Exposer>> ServeMetrics(
    const std::string& listen, const std::shared_ptr<CcfMetrics>& metrics) {
  try {
    auto exposer = std::make_unique<prometheus::Exposer>(listen, /*num_threads=*/1);
    exposer->RegisterCollectable(metrics);
    return exposer;
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("metrics.listen ", listen, ": ", e.what()));
  }
}

}  // namespace capif

// BusServer: this CCF's CAPIF-6/6e endpoint, the Interconnect service over mutual TLS.
//
//   ASSIGN_OR_RETURN(auto server, BusServer::Start(config.bus_identity, directory,
//                                                  "127.0.0.1:0", Clock::Real()));
//   server->port();                          // the port actually bound
//   server->Shutdown(absl::Seconds(5));      // stops accepting, lets calls in flight finish
//
// Limits (BusServer::Options): TLS handshake deadline, streams per connection, calls in flight
// per peer (beyond it RESOURCE_EXHAUSTED), idle connections closed, keepalive pings both ways
// (a peer's pings more often than allowed end its connection), message and metadata sizes.
//
// Listener watchdog: gRPC 1.51 (Debian 12) stops accepting for good after one failed accept4()
// (EMFILE when the process runs out of file descriptors; fixed upstream in 1.57). Every
// `listener_check` the server probes its own port with a TLS ClientHello; when nobody answers
// twice in a row it rebuilds the gRPC server on the same port (connections open then are closed,
// calls in flight get one second). EnsureListening() does one such check at once.
//
// Errors from Start(): Unavailable when the address cannot be bound. Thread-safe.
#ifndef CAPIF_FEDERATION_BUS_SERVER_H_
#define CAPIF_FEDERATION_BUS_SERVER_H_

#include <grpcpp/server.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "federation/audit_log.h"
#include "federation/interconnect_service.h"
#include "federation/local_ccf.h"
#include "federation/peer.h"
#include "federation/peer_directory.h"
#include "net/request_metrics.h"
#include "proto/interconnect.grpc.pb.h"

namespace capif {

struct BusServerOptions {
  // A connection that has not completed its TLS handshake by then is closed.
  absl::Duration handshake_timeout = absl::Seconds(10);
  // HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS: calls at once on one connection.
  int max_streams_per_connection = 100;
  // Calls of one peer being handled at once, over all its connections; beyond it the call is
  // RESOURCE_EXHAUSTED at once (the peer retries later), so one peer cannot take every thread.
  int max_calls_per_peer = 64;
  // A connection without a call for this long is closed (the peer reconnects when needed).
  absl::Duration idle_timeout = absl::Minutes(10);
  // The server pings a connection quiet for this long, and closes it if no answer comes within
  // 20 s (a vanished peer does not hold a connection forever). A peer may ping at most every
  // keepalive / 2; more often and its connection is closed.
  absl::Duration keepalive = absl::Minutes(1);
  // How often the watchdog probes the listener; zero: never (EnsureListening() still works).
  absl::Duration listener_check = absl::Seconds(10);
  // Largest request message accepted.
  int max_message_bytes = 4 << 20;
  // When set, every call is recorded as (peer, operation, status) with its duration; peer is
  // the authenticated configured peer's CCF id, else "unknown". Must outlive the server.
  RequestMetrics* metrics = nullptr;
};

class BusServer {
 public:
  using Options = BusServerOptions;

  static absl::StatusOr<std::unique_ptr<BusServer>> Start(
      const BusIdentity& self, std::shared_ptr<const PeerDirectory> peers,
      const std::string& listen_address, const Clock& clock, LocalCcf* local = nullptr,
      AuditLog* audit = nullptr, Options options = {});
  ~BusServer();

  int port() const { return port_; }
  // Idempotent. Calls still running after `grace` are cancelled.
  void Shutdown(absl::Duration grace);

  // Probes the listener (a TLS ClientHello to its own port, answered within `timeout`); when it
  // does not answer twice, rebuilds the server on the same port. True when it was rebuilt.
  // Unavailable when it cannot tell (no socket could be opened for the probe) or the rebuild
  // failed (it is tried again on the next check).
  absl::StatusOr<bool> EnsureListening(absl::Duration timeout = absl::Seconds(3));
  // How often the listener was rebuilt (for metrics).
  int restarts() const;

 private:
  BusServer() = default;
  absl::Status Build(const std::string& address) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WatchListener();

  BusIdentity self_;
  std::shared_ptr<const PeerDirectory> peers_;
  const Clock* clock_ = nullptr;
  LocalCcf* local_ = nullptr;
  AuditLog* audit_ = nullptr;
  Options options_;
  std::string host_;        // of the listen address
  std::string probe_host_;  // where the probe connects (loopback for a wildcard address)
  std::atomic<int> port_{0};  // written by Build() (the same port on a rebuild)

  mutable absl::Mutex mu_;
  std::unique_ptr<capif::federation::v1::Interconnect::CallbackService> service_
      ABSL_GUARDED_BY(mu_);
  std::unique_ptr<grpc::Server> server_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  int restarts_ ABSL_GUARDED_BY(mu_) = 0;
  bool rebuild_failing_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<PeerCallLimits> call_limits_;  // outlives a rebuild: calls keep counting
  std::thread watchdog_;
};

}  // namespace capif

#endif  // CAPIF_FEDERATION_BUS_SERVER_H_

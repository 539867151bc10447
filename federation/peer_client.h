// PeerClient: one persistent mutually authenticated channel to one peer CCF.
//
//   ASSIGN_OR_RETURN(auto client, PeerClient::Create(self, peer, Clock::Real()));
//   ASSIGN_OR_RETURN(HelloResult hello, client->Hello(absl::Seconds(3)));
//
// Errors: the gRPC status of the call as absl::Status (Unavailable when unreachable or the
// handshake was refused, DeadlineExceeded, PermissionDenied, ...). Thread-safe: one PeerClient
// may serve concurrent calls over its single channel.
#ifndef CAPIF_FEDERATION_PEER_CLIENT_H_
#define CAPIF_FEDERATION_PEER_CLIENT_H_

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "federation/bus_credentials.h"
#include "federation/peer.h"
#include "net/request_metrics.h"
#include "proto/interconnect.grpc.pb.h"

namespace capif {

struct HelloResult {
  capif::federation::v1::HelloResponse response;
  absl::Duration round_trip;
};

class PeerClient {
 public:
  // The channel reconnects after a failure with a backoff growing from 200 ms up to
  // `max_reconnect_backoff`: a peer that comes back is reached again within that time.
  // Every call made through it is recorded in `metrics` as (peer, operation, status), when set
  // (it must outlive the client).
  static std::unique_ptr<PeerClient> Create(const BusIdentity& self, const Peer& peer,
                                            const Clock& clock,
                                            absl::Duration max_reconnect_backoff = absl::Seconds(10),
                                            RequestMetrics* metrics = nullptr);
  // For tests: a client over any stub (e.g. a gMock stub).
  PeerClient(std::string self_ccf_id,
             std::unique_ptr<capif::federation::v1::Interconnect::StubInterface> stub,
             const Clock& clock);

  absl::StatusOr<HelloResult> Hello(absl::Duration timeout);
  // With `wait_for_ready`, a channel that is reconnecting is waited for (up to `timeout`)
  // instead of failing at once.
  absl::StatusOr<capif::federation::v1::TrustBundle> GetTrustBundle(absl::Duration timeout,
                                                                    bool wait_for_ready = false);
  // With a context the caller prepared (deadline, wait_for_ready) and may cancel.
  absl::StatusOr<capif::federation::v1::TrustBundle> GetTrustBundle(grpc::ClientContext* ctx);

  // A header with this CCF as origin and a fresh random request id.
  capif::federation::v1::RequestHeader NewHeader() const;

  capif::federation::v1::Interconnect::StubInterface* stub() { return stub_.get(); }
  // The identity the server presented in the last handshake ("" if none yet).
  std::string presented_identity() const;

 private:
  std::string self_ccf_id_;
  std::shared_ptr<PresentedIdentity> presented_;
  std::unique_ptr<capif::federation::v1::Interconnect::StubInterface> stub_;
  const Clock& clock_;
};

// The gRPC target of several host:port endpoints ("ipv4:a:p,b:p" or "ipv6:..."), each name
// resolved now (to its first address). InvalidArgument when they mix IPv4 and IPv6.
absl::StatusOr<std::string> MultiAddressTarget(const std::vector<std::string>& endpoints);

// A random request id (32 hex characters).
std::string NewRequestId();

// The calling policy for every CCF-to-CCF call: `deadline`, and waiting for a reconnecting
// channel within it (right after a peer restarts, gRPC would otherwise fail calls at once while
// its reconnect backoff runs). A dead peer therefore costs the deadline, never more.
void PreparePeerCall(grpc::ClientContext* ctx, absl::Time deadline);

// A failed call to peer `ccf_id`: its gRPC code, the message prefixed with the peer (and cut).
absl::Status PeerCallError(absl::string_view ccf_id, const grpc::Status& status);

}  // namespace capif

#endif  // CAPIF_FEDERATION_PEER_CLIENT_H_

// InterconnectService: the CAPIF-6/6e gRPC service of this CCF (proto/interconnect.proto).
//
// Every RPC first authorizes the caller (AuthorizeCall): the TLS layer has already authenticated
// the peer certificate (bus_credentials.h); here the request header must be complete, its
// origin_ccf_id must equal the authenticated peer's CCF id (else PERMISSION_DENIED, logged as a
// security event), and the peer's agreement must allow the operation (else PERMISSION_DENIED).
//
// Implemented: Hello, GetTrustBundle (roots + the JWKS of this CCF's token keys),
// QueryInvokerOwnership (#14), DiscoverShareableApis (TS 23.222 8.25), RequestSecurityMethod
// (#12, #20, #24), LookupSecurityInfo (#13, #17, #18), ForwardTokenRequest (#15, #19, #24),
// NotifyOffboarding and NotifyRevocation (#17: applied through LocalCcf::ApplyPeerNotice, then
// acknowledged with the notice id; INVALID_ARGUMENT for malformed ids, UNAVAILABLE when it could
// not be applied, so the sender retries). Every decision goes to the audit log when one is
// configured.
//
// Calls beyond InterconnectOptions::call_limits are RESOURCE_EXHAUSTED before any work.
//
// Callback API; handlers never call other CCFs, so a slow peer cannot tie up the bus threads.
// Most do only short local work (SQLite reads) on the gRPC threads; ForwardTokenRequest, which
// waits for its assertion's jti to be on disk, runs on a pool of InterconnectOptions::
// writer_threads with at most 256 calls waiting (beyond: RESOURCE_EXHAUSTED "busy", which the
// caller treats as an outage); a call whose caller gave up meanwhile is CANCELLED unworked.
// Thread-safe.
#ifndef CAPIF_FEDERATION_INTERCONNECT_SERVICE_H_
#define CAPIF_FEDERATION_INTERCONNECT_SERVICE_H_

#include <grpcpp/server_context.h>

#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "federation/peer.h"
#include "federation/audit_log.h"
#include "federation/local_ccf.h"
#include "federation/peer_directory.h"
#include "proto/interconnect.grpc.pb.h"

namespace capif {

inline constexpr char kProtocolVersion[] = "capif.federation.v1";

// The authorization decision for one call, without gRPC types so it can be tested directly.
// `authenticated` is the SPIFFE id the TLS layer authenticated (empty if none).
// Unauthenticated: no or unknown identity; InvalidArgument: incomplete header; PermissionDenied:
// origin mismatch or operation not in the agreement.
absl::StatusOr<const Peer*> AuthorizeCall(const PeerDirectory& peers,
                                          absl::string_view authenticated,
                                          const capif::federation::v1::RequestHeader& header,
                                          capif::federation::v1::Operation op);

// How many calls of each peer are being handled; thread-safe. Admit() refuses beyond `max`.
class PeerCallLimits {
 public:
  explicit PeerCallLimits(int max) : max_(max) {}
  // False when the peer already has `max` calls in flight (logged once until it drops to half).
  bool Admit(const std::string& ccf_id);
  void Release(const std::string& ccf_id);
  int max() const { return max_; }

 private:
  struct State {
    int in_flight = 0;
    bool refusing = false;
  };
  const int max_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, State> peers_ ABSL_GUARDED_BY(mu_);
};

// The SPIFFE id the TLS layer authenticated for a call ("" if none): the peer's certificate's
// SPIFFE id as gRPC derived it once per connection, else its single URI SAN.
std::string AuthenticatedIdentity(const grpc::ServerContextBase* ctx);

struct InterconnectOptions {
  // Where cross-domain decisions are recorded; null: not recorded.
  AuditLog* audit = nullptr;
  // How long a peer may cache an ownership answer (#14).
  absl::Duration owned_ttl = absl::Minutes(5);
  absl::Duration not_owned_ttl = absl::Minutes(1);
  // Calls in flight per peer; null: not limited.
  std::shared_ptr<PeerCallLimits> call_limits;
  // Threads for handlers that wait on a durable write (forwarded tokens: the jti).
  int writer_threads = 8;
};

// `local` may be null (no northbound): nobody is owned, nothing is shared, the JWKS is empty.
// It must outlive the service.
std::unique_ptr<capif::federation::v1::Interconnect::CallbackService> CreateInterconnectService(
    const BusIdentity& self, std::shared_ptr<const PeerDirectory> peers, LocalCcf* local = nullptr,
    InterconnectOptions options = {});

}  // namespace capif

#endif  // CAPIF_FEDERATION_INTERCONNECT_SERVICE_H_

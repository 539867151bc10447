// TLS credentials for the CAPIF-6/6e bus, server and client side.
//
// Server: TLS with GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY. gRPC 1.51 keeps one
// root pool per credential, so the pool holds every peer's roots for gRPC's first-pass check, and
// a certificate verifier then decides with PeerDirectory::AuthenticatePeer(): exactly one
// spiffe:// CCF identity, a configured peer, chain valid against that peer's own bundle. A refusal
// fails the handshake and is logged (identity and reason; never key material).
//
// Client: TLS presenting this CCF's certificate, with the peer's own bundle as the only roots and
// a verifier that requires the server's identity to be exactly the configured peer's
// spiffe://<trust-domain>/ccf/<ccf-id> (host names are not used for identity).
//
// Thread-safe: the returned credentials may be shared.
#ifndef CAPIF_FEDERATION_BUS_CREDENTIALS_H_
#define CAPIF_FEDERATION_BUS_CREDENTIALS_H_

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "federation/audit_log.h"
#include "federation/peer.h"
#include "federation/peer_directory.h"

namespace capif {

// `audit` (optional) records each refused handshake.
std::shared_ptr<grpc::ServerCredentials> MakeBusServerCredentials(
    const BusIdentity& self, std::shared_ptr<const PeerDirectory> peers, const Clock& clock,
    AuditLog* audit = nullptr);

// What the server presented in the last handshake of a channel, for diagnostics (capifctl).
class PresentedIdentity {
 public:
  void Set(std::string identity) {
    absl::MutexLock lock(&mu_);
    identity_ = std::move(identity);
  }
  std::string Get() const {
    absl::MutexLock lock(&mu_);
    return identity_;
  }

 private:
  mutable absl::Mutex mu_;
  std::string identity_ ABSL_GUARDED_BY(mu_);
};

// `presented` (optional) records the identity the server showed, accepted or not.
std::shared_ptr<grpc::ChannelCredentials> MakeBusChannelCredentials(
    const BusIdentity& self, const Peer& peer, const Clock& clock,
    std::shared_ptr<PresentedIdentity> presented = nullptr);

}  // namespace capif

#endif  // CAPIF_FEDERATION_BUS_CREDENTIALS_H_

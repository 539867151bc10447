// PeerDirectory: the configured peers of this CCF, looked up by CCF id or by authenticated
// identity, and the check that decides whether a certificate presented on the bus belongs to one
// of them.
//
// AuthenticatePeer() is the whole server-side identity decision, kept free of gRPC so it can be
// tested directly:
//   1. the leaf carries exactly one URI SAN, a spiffe://<trust-domain>/ccf/<ccf-id> identity;
//   2. that identity is a configured peer (trust domain and CCF id both match);
//   3. the chain verifies against the trust bundle of *that* peer only, at `now`.
// Errors: Unauthenticated (no/garbled certificate, wrong SAN shape, chain does not verify against
// the peer's own bundle), PermissionDenied (a well-formed identity that is not a configured peer).
// Immutable after Create(); thread-safe.
#ifndef CAPIF_FEDERATION_PEER_DIRECTORY_H_
#define CAPIF_FEDERATION_PEER_DIRECTORY_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "federation/peer.h"

namespace capif {

class PeerDirectory {
 public:
  // InvalidArgument if two peers share a CCF id.
  static absl::StatusOr<std::shared_ptr<const PeerDirectory>> Create(std::vector<Peer> peers);

  const Peer* FindByCcfId(absl::string_view ccf_id) const;
  const Peer* FindByIdentity(const SpiffeId& id) const;
  const std::vector<Peer>& peers() const { return peers_; }

  // `chain_pem`: the certificates the peer presented, leaf first.
  absl::StatusOr<const Peer*> AuthenticatePeer(absl::string_view chain_pem, absl::Time now) const;

  // The union of all peers' roots, as PEM. Only for the TLS library's first-pass check; the real
  // decision is AuthenticatePeer() against each peer's own bundle.
  std::string AllRootsPem() const;

 private:
  explicit PeerDirectory(std::vector<Peer> peers);

  std::vector<Peer> peers_;
  absl::flat_hash_map<std::string, size_t> by_ccf_id_;
};

// The single spiffe:// CCF identity of `leaf`, or Unauthenticated saying what is wrong.
absl::StatusOr<SpiffeId> CcfIdentityOf(const X509Cert& leaf);

// A peer's certificate chain as gRPC presents it, leaf first.
absl::StatusOr<std::vector<X509Cert>> PeerChainFromPem(absl::string_view chain_pem);

}  // namespace capif

#endif  // CAPIF_FEDERATION_PEER_DIRECTORY_H_

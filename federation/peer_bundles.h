// PeerBundles: the trust bundle each peer CCF serves over the bus (GetTrustBundle: root CAs of
// its trust domain, the JWKS of its token-signing keys, a sequence number and a refresh hint),
// fetched at start and again whenever the peer's refresh hint has passed.
//
//   PeerBundles bundles(peers, &store, Clock::Real(), {});
//   bundles.LoadStored();          // the last good bundles survive restarts
//   bundles.Start(absl::Seconds(1));
//   TrustBundle roots = bundles.RootsOf(peer);   // configured roots + the peer's current ones
//
// A fetched bundle is accepted only if it names the peer's trust domain, its sequence does not
// go backwards, it has 1-16 parseable root certificates and a parseable JWKS (sizes bounded).
// A failed or refused refresh keeps the last good bundle, records the error (capifctl peers
// shows it) and is retried after `retry`, doubling up to the refresh hint. The next refresh
// after a success is the peer's hint, clamped to [min_interval, 7 days].
//
// The bundle is authenticated by the channel it arrives on (mutual TLS with the peer's
// configured roots); the TLS handshake itself keeps using the configured roots.
// Thread-safe.
#ifndef CAPIF_FEDERATION_PEER_BUNDLES_H_
#define CAPIF_FEDERATION_PEER_BUNDLES_H_

#include <map>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/x509_cert.h"
#include "federation/peer.h"
#include "federation/peer_client.h"

namespace capif {

struct HeldBundle {
  uint64_t sequence = 0;
  std::vector<std::string> root_ca_pems;
  std::string jwks_json;
  uint32_t refresh_hint_seconds = 0;
  absl::Time fetched_at;
};

struct PeerBundleStatus {
  std::optional<HeldBundle> last_good;
  absl::Time last_attempt = absl::InfinitePast();
  std::string last_error;  // "" when the last attempt succeeded
  int failures = 0;        // consecutive failed attempts
  absl::Time next_refresh = absl::InfinitePast();
};

// Where the bundles are kept between restarts (the CCF database, ccf/sqlite_stores.h).
class PeerBundleStore {
 public:
  virtual ~PeerBundleStore() = default;
  virtual absl::StatusOr<std::map<std::string, PeerBundleStatus>> LoadAll() = 0;
  virtual absl::Status Save(const std::string& ccf_id, const PeerBundleStatus& status) = 0;
};

class PeerBundles {
 public:
  struct Options {
    absl::Duration min_interval = absl::Seconds(10);
    absl::Duration retry = absl::Seconds(5);
    absl::Duration deadline = absl::Seconds(5);
  };

  // The clients must outlive this object; `store` may be null (nothing kept across restarts).
  PeerBundles(std::vector<std::pair<Peer, PeerClient*>> peers, PeerBundleStore* store,
              const Clock& clock, Options options);
  ~PeerBundles() { Stop(); }

  // Takes the stored bundles of configured peers as the last good ones, due for refresh now.
  absl::Status LoadStored();
  // Refreshes every peer whose refresh is due; returns how many succeeded.
  int RefreshDue();

  PeerBundleStatus Status(const std::string& ccf_id) const;
  // `peer`'s configured roots plus the roots of its last good bundle.
  TrustBundle RootsOf(const Peer& peer) const;

  void Start(absl::Duration poll);
  void Stop();

 private:
  absl::Status Refresh(const Peer& peer, PeerClient* client, PeerBundleStatus* status);
  void Loop(absl::Duration poll);
  bool Stopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; }

  const std::vector<std::pair<Peer, PeerClient*>> peers_;
  PeerBundleStore* const store_;
  const Clock& clock_;
  const Options options_;
  mutable absl::Mutex mu_;
  std::map<std::string, PeerBundleStatus> status_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, TrustBundle> roots_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* in_flight_ ABSL_GUARDED_BY(mu_) = nullptr;  // the refresh under way
  std::thread thread_;
};

}  // namespace capif

#endif  // CAPIF_FEDERATION_PEER_BUNDLES_H_

// PeerBreaker: fail fast for a peer CCF that stopped answering, so that a stopped, hung or
// unreachable peer holds at most one caller's thread at a time instead of one per request.
//
// While the peer answers, every call goes through. After a call ends without an answer from the
// peer (UNAVAILABLE or DEADLINE_EXCEEDED: nothing came back within the deadline), the peer is
// "not answering": one call at a time still goes to it (the probe, which costs its caller at most
// the deadline), and every other call is refused at once with Unavailable, which the northbound
// answers as 503 with Retry-After. The first answer (any status the peer itself sent, OK or not)
// makes it answering again. A peer that itself answers UNAVAILABLE (its own trouble, or shutting
// down) counts as not answering too: one call at a time is the right load for it then. Each change is logged once; refusals are counted, not logged.
//
//   PeerBreaker breaker("ccf-a");
//   ASSIGN_OR_RETURN(PeerBreaker::Pass pass, breaker.Admit());
//   grpc::Status s = stub->Call(&ctx, req, &resp);
//   pass.Done(s);
//
// A Pass that is dropped without Done() counts as "no answer". Thread-safe.
#ifndef CAPIF_FEDERATION_PEER_BREAKER_H_
#define CAPIF_FEDERATION_PEER_BREAKER_H_

#include <cstdint>
#include <string>

#include <grpcpp/support/status.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace capif {

class PeerBreaker {
 public:
  class Pass {
   public:
    Pass(Pass&& other) noexcept : breaker_(other.breaker_), probe_(other.probe_) {
      other.breaker_ = nullptr;
    }
    Pass& operator=(Pass&&) = delete;
    ~Pass();
    // The status the call ended with.
    void Done(const grpc::Status& status);
    bool probe() const { return probe_; }

   private:
    friend class PeerBreaker;
    Pass(PeerBreaker* breaker, bool probe) : breaker_(breaker), probe_(probe) {}
    PeerBreaker* breaker_;
    bool probe_;
  };

  struct Stats {
    bool answering = true;
    uint64_t refused = 0;  // calls refused at once while not answering
  };

  explicit PeerBreaker(std::string ccf_id) : ccf_id_(std::move(ccf_id)) {}

  // Unavailable (naming the peer) when it is not answering and its probe is in flight.
  absl::StatusOr<Pass> Admit();
  Stats stats() const;

  // Whether `status` came from the peer (as opposed to "nothing came back").
  static bool Answered(const grpc::Status& status);

 private:
  void Finish(bool probe, bool answered);

  const std::string ccf_id_;
  mutable absl::Mutex mu_;
  bool answering_ ABSL_GUARDED_BY(mu_) = true;
  bool probing_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t refused_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace capif

#endif  // CAPIF_FEDERATION_PEER_BREAKER_H_

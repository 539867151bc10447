#include "federation/peer_breaker.h"

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace capif {

bool PeerBreaker::Answered(const grpc::Status& status) {
  return status.error_code() != grpc::StatusCode::UNAVAILABLE &&
         status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED;
}

absl::StatusOr<PeerBreaker::Pass> PeerBreaker::Admit() {
  absl::MutexLock lock(&mu_);
  if (answering_) return Pass(this, false);
  if (!probing_) {
    probing_ = true;
    return Pass(this, true);
  }
  ++refused_;
  return absl::UnavailableError(
      absl::StrCat("peer ", ccf_id_, " is not answering; retry later"));
}

PeerBreaker::Stats PeerBreaker::stats() const {
  absl::MutexLock lock(&mu_);
  return Stats{answering_, refused_};
}

void PeerBreaker::Finish(bool probe, bool answered) {
  bool changed = false;
  {
    absl::MutexLock lock(&mu_);
    if (probe) probing_ = false;
    if (answered != answering_) {
      // The call that ended last decides (a slow failure may follow a quick answer; the
      // next probe corrects it).
      answering_ = answered;
      changed = true;
    }
  }
  if (!changed) return;
  if (answered) {
    LogInfo("federation", absl::StrCat("peer ", ccf_id_, " answers again"));
  } else {
    LogWarning("federation", absl::StrCat("peer ", ccf_id_,
                                          " is not answering: calls to it fail at once, one at a "
                                          "time still tries"));
  }
}

PeerBreaker::Pass::~Pass() {
  if (breaker_ != nullptr) breaker_->Finish(probe_, false);
}

void PeerBreaker::Pass::Done(const grpc::Status& status) {
  if (breaker_ == nullptr) return;
  breaker_->Finish(probe_, Answered(status));
  breaker_ = nullptr;
}

}  // namespace capif

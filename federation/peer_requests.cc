#include "federation/peer_requests.h"

#include <grpcpp/client_context.h>

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/strict_json.h"

namespace capif {

namespace fv1 = capif::federation::v1;

SharedApiSnapshot BusPeerRequests::SharedApis(const std::string& api_name) {
  return shared_apis_.Get(api_name);
}

namespace {
OwnershipResolver::Options OwnershipOptions(const BusPeerRequestsOptions& options) {
  OwnershipResolver::Options o;
  o.deadline = options.deadline;
  o.fanouts_per_second = options.ownership_fanouts_per_second;
  return o;
}
}  // namespace

BusPeerRequests::BusPeerRequests(std::vector<std::pair<CcfId, PeerClient*>> peers,
                                 BusPeerRequestsOptions options)
    : peers_(std::move(peers)),
      deadline_(options.deadline),
      owners_(peers_, Clock::Real(), OwnershipOptions(options)),
      shared_apis_(peers_, Clock::Real(), SharedApiCache::Options{options.deadline}) {
  for (const auto& [id, client] : peers_) breakers_.push_back(std::make_unique<PeerBreaker>(id.value()));
}

PeerClient* BusPeerRequests::ClientOf(const std::string& ccf_id) const {
  for (const auto& [id, c] : peers_) {
    if (id.value() == ccf_id) return c;
  }
  return nullptr;
}

absl::StatusOr<BusPeerRequests::Target> BusPeerRequests::TargetOf(const std::string& ccf_id) {
  for (size_t i = 0; i < peers_.size(); ++i) {
    if (peers_[i].first.value() != ccf_id) continue;
    ASSIGN_OR_RETURN(PeerBreaker::Pass pass, breakers_[i]->Admit());
    return Target{peers_[i].second, std::move(pass)};
  }
  return absl::NotFoundError(absl::StrCat(ccf_id, " is not a peer"));
}

std::vector<std::pair<std::string, PeerBreaker::Stats>> BusPeerRequests::breaker_stats() const {
  std::vector<std::pair<std::string, PeerBreaker::Stats>> out;
  for (size_t i = 0; i < peers_.size(); ++i) {
    out.emplace_back(peers_[i].first.value(), breakers_[i]->stats());
  }
  return out;
}

absl::StatusOr<RemoteSecurityInfo> BusPeerRequests::LookupSecurityInfo(
    const std::string& ccf_id, const std::string& api_invoker_id, const std::string& aef_id,
    const std::string& method) {
  ASSIGN_OR_RETURN(Target target, TargetOf(ccf_id));
  PeerClient* client = target.client;
  fv1::SecurityInfoLookup req;
  *req.mutable_header() = client->NewHeader();
  req.set_api_invoker_id(api_invoker_id);
  req.set_aef_id(aef_id);
  req.set_method(SecurityMethodFromName(method));
  fv1::SecurityInfo resp;
  grpc::ClientContext ctx;
  PreparePeerCall(&ctx, absl::Now() + deadline_);
  grpc::Status s = client->stub()->LookupSecurityInfo(&ctx, req, &resp);
  target.pass.Done(s);
  if (!s.ok()) return PeerCallError(ccf_id, s);
  std::string answered(SecurityMethodName(resp.method()));
  if (!method.empty() && answered != method) {
    return absl::UnavailableError(absl::StrCat("peer ", ccf_id, " answered for another method"));
  }
  // A peer's URI goes into a ServiceSecurity answer: kept only if it is one (bounded, http(s),
  // no control characters); otherwise the asker answers its own API root (docs/federation.md).
  std::string destination = resp.notification_destination();
  bool usable =
      destination.size() <= 2048 &&
      (absl::StartsWith(destination, "https://") || absl::StartsWith(destination, "http://")) &&
      std::none_of(destination.begin(), destination.end(),
                   [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
  return RemoteSecurityInfo{answered,
                            resp.aef_psk(),
                            resp.aef_psk_expires_at(),
                            resp.invoker_root_ca_pem(),
                            resp.authorization_info(),
                            usable ? destination : std::string()};
}

namespace {

fv1::ForwardedTokenRequest ForwardedRequest(const PeerClient& client, const std::string& source,
                                            const std::string& scope,
                                            const std::string& assertion,
                                            const std::string& certificate_pem) {
  fv1::ForwardedTokenRequest req;
  *req.mutable_header() = client.NewHeader();
  req.set_source_api_invoker_id(source);
  req.set_scope(scope);
  req.set_client_assertion(assertion);
  req.set_client_assertion_type("urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
  req.set_invoker_certificate_pem(certificate_pem);
  return req;
}

absl::StatusOr<ForwardedToken> ForwardedAnswer(const std::string& ccf_id, const grpc::Status& s,
                                               const fv1::ForwardedTokenResponse& resp) {
  if (!s.ok()) return PeerCallError(ccf_id, s);
  return ForwardedToken{resp.access_token(), resp.expires_in(), resp.scope(), resp.error(),
                        resp.error_description()};
}

}  // namespace

absl::StatusOr<ForwardedToken> BusPeerRequests::ForwardToken(
    const std::string& ccf_id, const std::string& source, const std::string& scope,
    const std::string& assertion, const std::string& certificate_pem) {
  ASSIGN_OR_RETURN(Target target, TargetOf(ccf_id));
  return ForwardTokenTo(target, ccf_id,
                        ForwardedRequest(*target.client, source, scope, assertion,
                                         certificate_pem));
}

absl::StatusOr<ForwardedToken> BusPeerRequests::ForwardTokenTo(
    Target& target, const std::string& ccf_id, const fv1::ForwardedTokenRequest& req) {
  fv1::ForwardedTokenResponse resp;
  grpc::ClientContext ctx;
  PreparePeerCall(&ctx, absl::Now() + deadline_);
  grpc::Status s = target.client->stub()->ForwardTokenRequest(&ctx, req, &resp);
  target.pass.Done(s);
  return ForwardedAnswer(ccf_id, s, resp);
}

void BusPeerRequests::ForwardTokenAsync(
    const std::string& ccf_id, const std::string& source, const std::string& scope,
    const std::string& assertion, const std::string& certificate_pem,
    std::function<void(absl::StatusOr<ForwardedToken>)> done) {
  absl::StatusOr<Target> target = TargetOf(ccf_id);
  if (!target.ok()) return done(target.status());
  auto* async = target->client->stub()->async();
  if (async == nullptr) {  // a stub without the callback API (a test's): the blocking call
    return done(ForwardTokenTo(*target, ccf_id,
                               ForwardedRequest(*target->client, source, scope, assertion,
                                                certificate_pem)));
  }
  // Everything the call needs lives until its callback has run.
  struct Call {
    explicit Call(PeerBreaker::Pass p) : pass(std::move(p)) {}
    grpc::ClientContext ctx;
    fv1::ForwardedTokenRequest req;
    fv1::ForwardedTokenResponse resp;
    PeerBreaker::Pass pass;
    std::string ccf_id;
    std::function<void(absl::StatusOr<ForwardedToken>)> done;
  };
  auto call = std::make_shared<Call>(std::move(target->pass));
  call->req = ForwardedRequest(*target->client, source, scope, assertion, certificate_pem);
  call->ccf_id = ccf_id;
  call->done = std::move(done);
  PreparePeerCall(&call->ctx, absl::Now() + deadline_);
  async->ForwardTokenRequest(&call->ctx, &call->req, &call->resp, [call](grpc::Status s) {
    call->pass.Done(s);
    call->done(ForwardedAnswer(call->ccf_id, s, call->resp));
  });
}

absl::StatusOr<std::string> BusPeerRequests::FindInvokerHome(const std::string& api_invoker_id) {
  auto home = owners_.Resolve(ApiInvokerId(api_invoker_id));
  if (!home.ok()) return home.status();
  return home->value();
}

absl::Status BusPeerRequests::DeliverNotice(const PeerNoticeDelivery& notice) {
  PeerClient* client = ClientOf(notice.destination);
  if (client == nullptr) {
    return absl::NotFoundError(absl::StrCat(notice.destination, " is not a peer (any more)"));
  }
  fv1::NoticeAck ack;
  grpc::ClientContext ctx;
  PreparePeerCall(&ctx, absl::Now() + deadline_);
  grpc::Status s;
  if (notice.kind == PeerNoticeDelivery::Kind::kOffboarding) {
    fv1::OffboardingNotice req;
    if (!req.ParseFromString(notice.payload)) return absl::DataLossError("unreadable notice");
    *req.mutable_header() = client->NewHeader();
    s = client->stub()->NotifyOffboarding(&ctx, req, &ack);
  } else if (notice.kind == PeerNoticeDelivery::Kind::kRevocation) {
    fv1::RevocationNotice req;
    if (!req.ParseFromString(notice.payload)) return absl::DataLossError("unreadable notice");
    *req.mutable_header() = client->NewHeader();
    s = client->stub()->NotifyRevocation(&ctx, req, &ack);
  } else if (notice.kind == PeerNoticeDelivery::Kind::kSharedApiChange) {
    fv1::SharedApiChange req;
    if (!req.ParseFromString(notice.payload)) return absl::DataLossError("unreadable notice");
    *req.mutable_header() = client->NewHeader();
    s = client->stub()->NotifySharedApiChange(&ctx, req, &ack);
  } else {
    fv1::SecurityMethodConfirmation req;
    if (!req.ParseFromString(notice.payload)) return absl::DataLossError("unreadable notice");
    *req.mutable_header() = client->NewHeader();
    s = client->stub()->ConfirmSecurityMethods(&ctx, req, &ack);
  }
  if (!s.ok()) return PeerCallError(notice.destination, s);
  if (ack.notice_id() != notice.notice_id) {
    return absl::UnavailableError(absl::StrCat("peer ", notice.destination,
                                               " acknowledged another notice"));
  }
  return absl::OkStatus();
}

absl::StatusOr<MethodDecision> BusPeerRequests::RequestSecurityMethod(
    const std::string& ccf_id, const std::string& api_invoker_id,
    const std::vector<std::string>& preferred, const std::string& aef_id,
    const std::string& api_id) {
  ASSIGN_OR_RETURN(Target target, TargetOf(ccf_id));
  PeerClient* client = target.client;
  fv1::SecurityMethodRequest req;
  *req.mutable_header() = client->NewHeader();
  req.set_api_invoker_id(api_invoker_id);
  for (const std::string& m : preferred) {
    req.add_preferred_methods(SecurityMethodFromName(m));
  }
  fv1::AefTarget* t = req.add_targets();
  t->set_aef_id(aef_id);
  t->set_api_id(api_id);
  fv1::SecurityMethodResponse resp;
  grpc::ClientContext ctx;
  PreparePeerCall(&ctx, absl::Now() + deadline_);
  grpc::Status s = client->stub()->RequestSecurityMethod(&ctx, req, &resp);
  target.pass.Done(s);
  // Whatever the peer's reason, the invoker's request cannot proceed now: Unavailable.
  if (!s.ok()) return absl::UnavailableError(PeerCallError(ccf_id, s).message());
  if (resp.decisions_size() != 1 || resp.decisions(0).aef_id() != aef_id) {
    return absl::UnavailableError(absl::StrCat("peer ", ccf_id, " answered for another AEF"));
  }
  const fv1::AefSecurityDecision& d = resp.decisions(0);
  std::string method(SecurityMethodName(d.selected_method()));
  return MethodDecision{aef_id, d.api_id(), method, d.reason()};
}

}  // namespace capif

#include "federation/interconnect_service.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/log.h"
#include "common/worker_pool.h"
#include "common/utf8.h"
#include "federation/grpc_status.h"

namespace capif {

namespace fv1 = capif::federation::v1;

namespace {

// The first text field of `m` (recursively) that is not UTF-8, as "field.subfield", or "".
// Request text fields are `bytes` on the wire (proto/interconnect.proto), so that such a
// request parses and is refused here with its field named.
std::string NonUtf8Field(const google::protobuf::Message& m) {
  const google::protobuf::Reflection* r = m.GetReflection();
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  for (const google::protobuf::FieldDescriptor* f : fields) {
    using FD = google::protobuf::FieldDescriptor;
    if (f->cpp_type() == FD::CPPTYPE_STRING) {
      if (f->is_repeated()) {
        for (int i = 0; i < r->FieldSize(m, f); ++i) {
          if (!IsValidUtf8(r->GetRepeatedString(m, f, i))) return f->name();
        }
      } else if (!IsValidUtf8(r->GetString(m, f))) {
        return f->name();
      }
    } else if (f->cpp_type() == FD::CPPTYPE_MESSAGE) {
      if (f->is_repeated()) {
        for (int i = 0; i < r->FieldSize(m, f); ++i) {
          std::string inner = NonUtf8Field(r->GetRepeatedMessage(m, f, i));
          if (!inner.empty()) return absl::StrCat(f->name(), ".", inner);
        }
      } else {
        std::string inner = NonUtf8Field(r->GetMessage(m, f));
        if (!inner.empty()) return absl::StrCat(f->name(), ".", inner);
      }
    }
  }
  return "";
}

constexpr fv1::Operation kImplemented[] = {fv1::OPERATION_HELLO,
                                           fv1::OPERATION_GET_TRUST_BUNDLE,
                                           fv1::OPERATION_QUERY_INVOKER_OWNERSHIP,
                                           fv1::OPERATION_DISCOVER_SHAREABLE_APIS,
                                           fv1::OPERATION_REQUEST_SECURITY_METHOD,
                                           fv1::OPERATION_LOOKUP_SECURITY_INFO,
                                           fv1::OPERATION_FORWARD_TOKEN_REQUEST,
                                           fv1::OPERATION_NOTIFY_OFFBOARDING,
                                           fv1::OPERATION_NOTIFY_REVOCATION,
                                           fv1::OPERATION_NOTIFY_SHARED_API_CHANGE};

}  // namespace

std::string AuthenticatedIdentity(const grpc::ServerContextBase* ctx) {
  std::shared_ptr<const grpc::AuthContext> auth = ctx->auth_context();
  if (!auth || !auth->IsPeerAuthenticated()) return "";
  std::vector<grpc::string_ref> ids = auth->FindPropertyValues(GRPC_PEER_SPIFFE_ID_PROPERTY_NAME);
  if (ids.size() == 1) return std::string(ids[0].data(), ids[0].size());
  // Fallback: read the URI SAN from the leaf certificate.
  std::vector<grpc::string_ref> pems = auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (pems.size() != 1) return "";
  auto cert = X509Cert::FromPem(absl::string_view(pems[0].data(), pems[0].size()));
  if (!cert.ok()) return "";
  std::vector<std::string> uris = cert->UriSans();
  return uris.size() == 1 ? uris[0] : "";
}

namespace {

// One call past Authorize: the authorized peer, and its place among that peer's calls in flight,
// given back when the handler returns (handlers finish their reactor before returning), or, for
// work moved to the writers' pool, just before that work finishes the reactor.
class Admitted {
 public:
  Admitted(const Peer* peer, PeerCallLimits* limits) : peer_(peer), limits_(limits) {}
  Admitted(Admitted&& other) noexcept
      : peer_(other.peer_), limits_(std::exchange(other.limits_, nullptr)) {}
  Admitted& operator=(Admitted&&) = delete;
  ~Admitted() {
    if (limits_ != nullptr) limits_->Release(peer_->ccf_id.value());
  }
  const Peer& operator*() const { return *peer_; }
  const Peer* operator->() const { return peer_; }

 private:
  const Peer* peer_;
  PeerCallLimits* limits_;
};

// Finishes a reactor exactly once: with the status given, or UNAVAILABLE if dropped unfinished
// (a job the writers' pool never ran because it shut down).
class FinishOnce {
 public:
  explicit FinishOnce(grpc::ServerUnaryReactor* reactor) : reactor_(reactor) {}
  ~FinishOnce() {
    Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "shutting down; retry later"));
  }
  void Finish(const grpc::Status& status) {
    if (!done_.exchange(true)) reactor_->Finish(status);
  }

 private:
  grpc::ServerUnaryReactor* reactor_;
  std::atomic<bool> done_{false};
};

class InterconnectServiceImpl final : public fv1::Interconnect::CallbackService {
 public:
  InterconnectServiceImpl(const BusIdentity& self, std::shared_ptr<const PeerDirectory> peers,
                          LocalCcf* local, InterconnectOptions options)
      : local_(local),
        options_(options),
        ccf_id_(self.ccf_id.value()),
        trust_domain_(self.trust_domain.value()),
        bundle_sequence_(self.bundle_sequence),
        refresh_hint_seconds_(self.bundle_refresh_hint_seconds),
        peers_(std::move(peers)),
        writers_(std::max(1, options.writer_threads), kMaxQueuedWrites) {
    for (const X509Cert& root : self.own_trust_bundle.roots()) {
      auto pem = root.ToPem();
      if (pem.ok()) root_pems_.push_back(*pem);
    }
  }

  grpc::ServerUnaryReactor* Hello(grpc::CallbackServerContext* ctx, const fv1::HelloRequest* req,
                                  fv1::HelloResponse* resp) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    std::string caller = AuthenticatedIdentity(ctx);
    auto peer = Authorize(*req, caller, req->header(), fv1::OPERATION_HELLO);
    if (!peer.ok()) {
      reactor->Finish(ToGrpcStatus(peer.status()));
      return reactor;
    }
    FillHeader(req->header(), resp->mutable_header());
    resp->set_ccf_id(ccf_id_);
    resp->set_trust_domain(trust_domain_);
    resp->set_protocol_version(kProtocolVersion);
    for (fv1::Operation op : kImplemented) {
      if ((*peer)->agreement.Allows(op)) resp->add_operations(op);
    }
    resp->set_bundle_sequence(bundle_sequence_);
    resp->set_authenticated_caller(caller);
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerUnaryReactor* GetTrustBundle(grpc::CallbackServerContext* ctx,
                                           const fv1::GetTrustBundleRequest* req,
                                           fv1::TrustBundle* resp) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    auto peer = Authorize(*req, AuthenticatedIdentity(ctx), req->header(),
                          fv1::OPERATION_GET_TRUST_BUNDLE);
    if (!peer.ok()) {
      reactor->Finish(ToGrpcStatus(peer.status()));
      return reactor;
    }
    FillHeader(req->header(), resp->mutable_header());
    resp->set_trust_domain(trust_domain_);
    resp->set_sequence(bundle_sequence_);
    for (const std::string& pem : root_pems_) resp->add_root_ca_pem(pem);
    resp->set_jwks_json(local_ != nullptr ? local_->JwksJson() : "{\"keys\":[]}");
    resp->set_refresh_hint_seconds(refresh_hint_seconds_);
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerUnaryReactor* DiscoverShareableApis(grpc::CallbackServerContext* ctx,
                                                  const fv1::DiscoverShareableApisRequest* req,
                                                  fv1::DiscoverShareableApisResponse* resp) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    auto peer = Authorize(*req, AuthenticatedIdentity(ctx), req->header(),
                          fv1::OPERATION_DISCOVER_SHAREABLE_APIS);
    if (!peer.ok()) {
      reactor->Finish(ToGrpcStatus(peer.status()));
      return reactor;
    }
    if (req->api_name().size() > 256) {
      reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "api_name too long"));
      return reactor;
    }
    FillHeader(req->header(), resp->mutable_header());
    if (local_ != nullptr) {
      auto apis = local_->ShareableApis(**peer, req->api_name());
      if (!apis.ok()) {
        LogError("bus", absl::StrCat("shareable APIs: ", apis.status().ToString()));
        reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "temporarily unavailable"));
        return reactor;
      }
      for (std::string& a : *apis) resp->add_service_api_description_json(std::move(a));
    }
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  grpc::ServerUnaryReactor* RequestSecurityMethod(grpc::CallbackServerContext* ctx,
                                                  const fv1::SecurityMethodRequest* req,
                                                  fv1::SecurityMethodResponse* resp) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    auto peer = Authorize(*req, AuthenticatedIdentity(ctx), req->header(),
                          fv1::OPERATION_REQUEST_SECURITY_METHOD, req->api_invoker_id());
    if (!peer.ok()) {
      reactor->Finish(ToGrpcStatus(peer.status()));
      return reactor;
    }
    auto invalid = [reactor](const char* why) {
      reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, why));
      return reactor;
    };
    if (!IsValidIdSegment(req->api_invoker_id())) return invalid("api_invoker_id is required");
    std::vector<std::string> preferred;
    for (int m : req->preferred_methods()) {
      absl::string_view name = SecurityMethodName(static_cast<fv1::SecurityMethod>(m));
      if (name.empty()) return invalid("preferred_methods: unknown or unspecified method");
      preferred.emplace_back(name);
    }
    if (preferred.empty()) return invalid("preferred_methods is required");
    if (req->targets_size() == 0 || req->targets_size() > 100) {
      return invalid("targets: 1 to 100 AEFs");
    }
    std::vector<std::pair<std::string, std::string>> targets;
    for (const fv1::AefTarget& t : req->targets()) {
      if (!IsValidIdSegment(t.aef_id()) || (!t.api_id().empty() && !IsValidIdSegment(t.api_id()))) {
        return invalid("targets: aef_id (and api_id, when given) must be valid ids");
      }
      targets.emplace_back(t.aef_id(), t.api_id());
    }
    std::vector<MethodDecision> decisions;
    if (local_ != nullptr) {
      auto d = local_->SelectSecurityMethods(**peer, req->api_invoker_id(), preferred, targets);
      if (!d.ok()) {
        LogError("bus", absl::StrCat("security method request: ", d.status().ToString()));
        reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "temporarily unavailable"));
        return reactor;
      }
      decisions = *std::move(d);
    } else {
      for (const auto& [aef, api] : targets) decisions.push_back({aef, api, "", "no such AEF"});
    }
    FillHeader(req->header(), resp->mutable_header());
    for (const MethodDecision& d : decisions) {
      fv1::AefSecurityDecision* out = resp->add_decisions();
      out->set_aef_id(d.aef_id);
      out->set_api_id(d.api_id);
      out->set_selected_method(SecurityMethodFromName(d.method));
      out->set_reason(d.reason);
    }
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  grpc::ServerUnaryReactor* QueryInvokerOwnership(grpc::CallbackServerContext* ctx,
                                                  const fv1::OwnershipQuery* req,
                                                  fv1::OwnershipAnswer* resp) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    auto peer = Authorize(*req, AuthenticatedIdentity(ctx), req->header(),
                          fv1::OPERATION_QUERY_INVOKER_OWNERSHIP, req->api_invoker_id());
    if (!peer.ok()) {
      reactor->Finish(ToGrpcStatus(peer.status()));
      return reactor;
    }
    if (!IsValidIdSegment(req->api_invoker_id())) {
      reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                   "api_invoker_id is required (1-128 of [A-Za-z0-9._-])"));
      return reactor;
    }
    bool owned = false;
    if (local_ != nullptr) {
      auto o = local_->OwnsInvoker(req->api_invoker_id());
      if (!o.ok()) {
        LogError("bus", absl::StrCat("ownership query: ", o.status().ToString()));
        reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "temporarily unavailable"));
        return reactor;
      }
      owned = *o;
    }
    FillHeader(req->header(), resp->mutable_header());
    resp->set_owned(owned);
    resp->set_ttl_seconds(static_cast<uint32_t>(
        absl::ToInt64Seconds(owned ? options_.owned_ttl : options_.not_owned_ttl)));
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  grpc::ServerUnaryReactor* LookupSecurityInfo(grpc::CallbackServerContext* ctx,
                                               const fv1::SecurityInfoLookup* req,
                                               fv1::SecurityInfo* resp) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    std::string caller = AuthenticatedIdentity(ctx);
    auto peer = Authorize(*req, caller, req->header(), fv1::OPERATION_LOOKUP_SECURITY_INFO,
                          req->api_invoker_id());
    if (!peer.ok()) {
      reactor->Finish(ToGrpcStatus(peer.status()));
      return reactor;
    }
    std::string method(SecurityMethodName(req->method()));
    // METHOD_UNSPECIFIED: whichever was selected (the asker found the invoker by ownership, #14).
    if (!IsValidIdSegment(req->api_invoker_id()) || !IsValidIdSegment(req->aef_id()) ||
        (method.empty() && req->method() != fv1::SECURITY_METHOD_UNSPECIFIED)) {
      reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                   "api_invoker_id and aef_id are required, and method must be "
                                   "PSK, PKI, OAUTH or unspecified"));
      return reactor;
    }
    if (local_ == nullptr) {
      reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND, "no such invoker"));
      return reactor;
    }
    auto info = local_->LookupSecurityInfo(**peer, req->api_invoker_id(), req->aef_id(), method);
    if (options_.audit != nullptr) {
      options_.audit->Record({caller, "LOOKUP_SECURITY_INFO", req->header().request_id(),
                              req->api_invoker_id(), req->aef_id(), info.ok(),
                              info.ok() ? "" : std::string(info.status().message())});
    }
    if (!info.ok()) {
      if (info.status().code() == absl::StatusCode::kPermissionDenied) {
        LogWarning("security", absl::StrCat(caller, " asked for security information it may not "
                                            "have: ", info.status().message()));
      }
      reactor->Finish(ToGrpcStatus(info.status()));
      return reactor;
    }
    FillHeader(req->header(), resp->mutable_header());
    resp->set_method(SecurityMethodFromName(info->method));
    resp->set_aef_psk(info->aef_psk);
    resp->set_aef_psk_expires_at(info->aef_psk_expires_at);
    resp->set_invoker_root_ca_pem(info->invoker_root_ca_pem);
    resp->set_authorization_info(info->authorization_info);
    resp->set_notification_destination(info->notification_destination);
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  grpc::ServerUnaryReactor* ForwardTokenRequest(grpc::CallbackServerContext* ctx,
                                                const fv1::ForwardedTokenRequest* req,
                                                fv1::ForwardedTokenResponse* resp) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    std::string caller = AuthenticatedIdentity(ctx);
    auto peer = Authorize(*req, caller, req->header(), fv1::OPERATION_FORWARD_TOKEN_REQUEST,
                          req->source_api_invoker_id());
    if (!peer.ok()) {
      reactor->Finish(ToGrpcStatus(peer.status()));
      return reactor;
    }
    if (!IsValidIdSegment(req->source_api_invoker_id()) || req->scope().empty() ||
        req->scope().size() > 4096 || req->client_assertion().empty() ||
        req->client_assertion().size() > 16384 || req->invoker_certificate_pem().empty() ||
        req->client_assertion_type() !=
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer") {
      reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                   "source_api_invoker_id, scope, client_assertion (jwt-bearer) "
                                   "and invoker_certificate_pem are required"));
      return reactor;
    }
    // Issuing waits for the assertion's jti to be durable (an fsync shared by the calls that
    // wait together): on the writers' pool, so the gRPC threads stay free and more calls share
    // one commit.
    auto admitted = std::make_shared<Admitted>(*std::move(peer));
    auto finish = std::make_shared<FinishOnce>(reactor);
    bool taken = writers_.TrySubmit([this, admitted = std::move(admitted), finish, caller, ctx, req,
                                     resp]() mutable {
      // A caller that gave up while this waited gets nothing: no jti spent, no token minted.
      grpc::Status status = ctx->IsCancelled()
                                ? grpc::Status(grpc::StatusCode::CANCELLED, "the caller gave up")
                                : IssueForwardedToken(**admitted, caller, *req, resp);
      admitted.reset();  // the peer's slot is free before it hears the answer
      finish->Finish(status);
      return std::function<void()>();
    });
    if (!taken) {
      finish->Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "busy; retry later"));
    }
    return reactor;
  }

  grpc::Status IssueForwardedToken(const Peer& peer, const std::string& caller,
                                   const fv1::ForwardedTokenRequest& req,
                                   fv1::ForwardedTokenResponse* resp) {
    ForwardedToken token{"", 0, "", "invalid_client", "no token service here"};
    if (local_ != nullptr) {
      auto t = local_->ForwardToken(peer, req.source_api_invoker_id(), req.scope(),
                                    req.client_assertion(), req.invoker_certificate_pem());
      if (!t.ok()) {
        LogError("bus", absl::StrCat("forwarded token: ", t.status().ToString()));
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "temporarily unavailable");
      }
      token = *std::move(t);
    }
    if (options_.audit != nullptr) {
      options_.audit->Record({caller, "FORWARD_TOKEN_REQUEST", req.header().request_id(),
                              req.source_api_invoker_id(), "", token.error.empty(),
                              token.error.empty() ? "" : token.error + ": " + token.error_description});
    }
    FillHeader(req.header(), resp->mutable_header());
    resp->set_access_token(token.access_token);
    resp->set_token_type(token.error.empty() ? "Bearer" : "");
    resp->set_expires_in(static_cast<uint32_t>(token.expires_in));
    resp->set_scope(token.scope);
    resp->set_error(token.error);
    resp->set_error_description(token.error_description);
    return grpc::Status::OK;
  }
  grpc::ServerUnaryReactor* NotifyOffboarding(grpc::CallbackServerContext* ctx,
                                              const fv1::OffboardingNotice* req,
                                              fv1::NoticeAck* resp) override {
    PeerNotice n;
    n.offboarding = true;
    n.api_invoker_id = req->api_invoker_id();
    n.notice_id = req->notice_id();
    n.occurred_at = req->occurred_at();
    return ApplyNotice(ctx, *req, req->header(), fv1::OPERATION_NOTIFY_OFFBOARDING, n, resp);
  }
  grpc::ServerUnaryReactor* NotifyRevocation(grpc::CallbackServerContext* ctx,
                                             const fv1::RevocationNotice* req,
                                             fv1::NoticeAck* resp) override {
    PeerNotice n;
    n.api_invoker_id = req->api_invoker_id();
    n.notice_id = req->notice_id();
    n.occurred_at = req->occurred_at();
    n.aef_ids.assign(req->aef_ids().begin(), req->aef_ids().end());
    n.api_ids.assign(req->api_ids().begin(), req->api_ids().end());
    n.cause = req->cause();
    n.from_aef_ccf = req->from_aef_ccf();
    return ApplyNotice(ctx, *req, req->header(), fv1::OPERATION_NOTIFY_REVOCATION, n, resp);
  }

  grpc::ServerUnaryReactor* NotifySharedApiChange(grpc::CallbackServerContext* ctx,
                                                  const fv1::SharedApiChange* req,
                                                  fv1::NoticeAck* resp) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    std::string caller = AuthenticatedIdentity(ctx);
    auto peer = Authorize(*req, caller, req->header(), fv1::OPERATION_NOTIFY_SHARED_API_CHANGE);
    if (!peer.ok()) {
      reactor->Finish(ToGrpcStatus(peer.status()));
      return reactor;
    }
    SharedApiChangeNotice change{req->notice_id(), req->api_id(), req->api_name(), "", {}};
    switch (req->change()) {
      case fv1::SHARED_API_AVAILABLE:
        change.event = "SERVICE_API_AVAILABLE";
        break;
      case fv1::SHARED_API_UPDATE:
        change.event = "SERVICE_API_UPDATE";
        break;
      case fv1::SHARED_API_UNAVAILABLE:
        change.event = "SERVICE_API_UNAVAILABLE";
        break;
      default:
        break;
    }
    bool ok = !change.event.empty() && IsValidIdSegment(req->notice_id()) &&
              IsValidIdSegment(req->api_id()) && !req->api_name().empty() &&
              req->api_name().size() <= 256 && req->aef_ids_size() <= 100;
    for (const std::string& aef : req->aef_ids()) {
      ok = ok && IsValidIdSegment(aef);
      change.aef_ids.push_back(aef);
    }
    if (!ok) {
      reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                   "notice_id, api_id, api_name (1-256 bytes), a change and at "
                                   "most 100 aef_ids are required; every id must be 1-128 "
                                   "characters of [A-Za-z0-9._-]"));
      return reactor;
    }
    absl::Status applied = local_ == nullptr ? absl::UnimplementedError("no local CCF")
                                             : local_->ApplySharedApiChange(**peer, change);
    if (options_.audit != nullptr) {
      options_.audit->Record({caller, "NOTIFY_SHARED_API_CHANGE", req->header().request_id(), "",
                              "", applied.ok(),
                              applied.ok() ? absl::StrCat(change.event, " ", change.api_id)
                                           : std::string(applied.message())});
    }
    if (absl::IsUnimplemented(applied)) {
      reactor->Finish(
          grpc::Status(grpc::StatusCode::UNIMPLEMENTED, std::string(applied.message())));
      return reactor;
    }
    if (!applied.ok()) {
      LogError("bus", absl::StrCat("shared API change ", req->notice_id(), " from ", caller, ": ",
                                   applied.ToString()));
      reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "temporarily unavailable"));
      return reactor;
    }
    FillHeader(req->header(), resp->mutable_header());
    resp->set_notice_id(req->notice_id());
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerUnaryReactor* ConfirmSecurityMethods(grpc::CallbackServerContext* ctx,
                                                   const fv1::SecurityMethodConfirmation* req,
                                                   fv1::NoticeAck* resp) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    std::string caller = AuthenticatedIdentity(ctx);
    auto peer = Authorize(*req, caller, req->header(), fv1::OPERATION_REQUEST_SECURITY_METHOD,
                          req->api_invoker_id());
    if (!peer.ok()) {
      reactor->Finish(ToGrpcStatus(peer.status()));
      return reactor;
    }
    bool ids_ok = IsValidIdSegment(req->api_invoker_id()) && IsValidIdSegment(req->notice_id()) &&
                  req->targets_size() > 0 && req->targets_size() <= 100;
    std::vector<std::pair<std::string, std::string>> targets;
    for (const fv1::AefTarget& t : req->targets()) {
      ids_ok = ids_ok && IsValidIdSegment(t.aef_id()) &&
               (t.api_id().empty() || IsValidIdSegment(t.api_id()));
      targets.emplace_back(t.aef_id(), t.api_id());
    }
    if (!ids_ok) {
      reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                   "api_invoker_id, notice_id and 1 to 100 targets are required; "
                                   "every id must be 1-128 characters of [A-Za-z0-9._-]"));
      return reactor;
    }
    absl::Status applied = local_ == nullptr
                               ? absl::OkStatus()
                               : local_->ConfirmGrants(**peer, req->api_invoker_id(), targets);
    if (options_.audit != nullptr) {
      options_.audit->Record({caller, "CONFIRM_SECURITY_METHODS", req->header().request_id(),
                              req->api_invoker_id(), "", applied.ok(),
                              applied.ok() ? "" : std::string(applied.message())});
    }
    if (!applied.ok()) {
      LogError("bus", absl::StrCat("security method confirmation ", req->notice_id(), " from ",
                                   caller, ": ", applied.ToString()));
      reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "temporarily unavailable"));
      return reactor;
    }
    FillHeader(req->header(), resp->mutable_header());
    resp->set_notice_id(req->notice_id());
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  absl::StatusOr<Admitted> Authorize(const google::protobuf::Message& request,
                                     const std::string& caller, const fv1::RequestHeader& header,
                                     fv1::Operation op, const std::string& invoker = "") {
    std::string not_utf8 = NonUtf8Field(request);
    absl::StatusOr<const Peer*> peer =
        not_utf8.empty() ? AuthorizeCall(*peers_, caller, header, op)
                         : absl::InvalidArgumentError(
                               absl::StrCat("request field ", not_utf8, " is not UTF-8"));
    PeerCallLimits* limits = options_.call_limits.get();
    if (peer.ok() && limits != nullptr && !limits->Admit((*peer)->ccf_id.value())) {
      peer = absl::ResourceExhaustedError(
          absl::StrCat("too many calls in flight from ", (*peer)->ccf_id.value(), " (at most ",
                       limits->max(), "); retry later"));
    }
    if (options_.audit != nullptr) {
      // request_id is echoed only once validated (AuthorizeCall checks its charset).
      bool header_ok = peer.ok() || peer.status().code() != absl::StatusCode::kInvalidArgument;
      options_.audit->Record({caller, std::string(OperationName(op)),
                              header_ok ? header.request_id() : "",
                              IsValidIdSegment(invoker) ? invoker : "", "", peer.ok(),
                              peer.ok() ? "" : std::string(peer.status().message())});
    }
    if (!peer.ok()) {
      absl::StatusCode code = peer.status().code();
      if (code != absl::StatusCode::kInvalidArgument &&
          code != absl::StatusCode::kResourceExhausted) {  // PeerCallLimits logs that once
        LogWarning("security", absl::StrCat("refused ", OperationName(op), " from ",
                                            caller.empty() ? "(no identity)" : caller, ": ",
                                            peer.status().message()));
      }
      return peer.status();
    }
    return Admitted(*peer, limits);
  }

  // Solution #17, receiving side. The notice is acknowledged only once applied; a repeat (the
  // sender retries until acknowledged) is applied again, which changes nothing.
  grpc::ServerUnaryReactor* ApplyNotice(grpc::CallbackServerContext* ctx,
                                        const google::protobuf::Message& request,
                                        const fv1::RequestHeader& header, fv1::Operation op,
                                        const PeerNotice& notice, fv1::NoticeAck* resp) {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    std::string caller = AuthenticatedIdentity(ctx);
    auto peer = Authorize(request, caller, header, op, notice.api_invoker_id);
    if (!peer.ok()) {
      reactor->Finish(ToGrpcStatus(peer.status()));
      return reactor;
    }
    bool ids_ok = IsValidIdSegment(notice.api_invoker_id) && IsValidIdSegment(notice.notice_id) &&
                  notice.aef_ids.size() <= 1000 && notice.api_ids.size() <= 1000 &&
                  notice.cause.size() <= 1024;
    for (const std::string& id : notice.aef_ids) ids_ok = ids_ok && IsValidIdSegment(id);
    for (const std::string& id : notice.api_ids) ids_ok = ids_ok && IsValidIdSegment(id);
    if (!ids_ok) {
      reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                   "api_invoker_id and notice_id are required, and every id must "
                                   "be 1-128 characters of [A-Za-z0-9._-] (at most 1000 ids)"));
      return reactor;
    }
    // Without a northbound this CCF holds no state for anyone: nothing to forget.
    absl::Status applied =
        local_ == nullptr ? absl::OkStatus() : local_->ApplyPeerNotice(**peer, notice);
    if (options_.audit != nullptr) {
      options_.audit->Record({caller, std::string(OperationName(op)), header.request_id(),
                              notice.api_invoker_id, absl::StrJoin(notice.aef_ids, ","),
                              applied.ok(), applied.ok() ? "" : std::string(applied.message())});
    }
    if (!applied.ok()) {
      LogError("bus", absl::StrCat(OperationName(op), " ", notice.notice_id, " from ", caller,
                                   ": ", applied.ToString()));
      reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                   "temporarily unavailable; the notice was not applied"));
      return reactor;
    }
    LogInfo("bus", absl::StrCat(OperationName(op), " ", notice.notice_id, " from ",
                                (*peer)->ccf_id.value(), ": invoker ", notice.api_invoker_id,
                                " forgotten"));
    FillHeader(header, resp->mutable_header());
    resp->set_notice_id(notice.notice_id);
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  void FillHeader(const fv1::RequestHeader& in, fv1::ResponseHeader* out) const {
    out->set_responder_ccf_id(ccf_id_);
    out->set_request_id(in.request_id());
  }

  LocalCcf* const local_;
  const InterconnectOptions options_;
  const std::string ccf_id_;
  const std::string trust_domain_;
  const uint64_t bundle_sequence_;
  const uint32_t refresh_hint_seconds_;
  std::vector<std::string> root_pems_;
  const std::shared_ptr<const PeerDirectory> peers_;
  // Handlers that wait on durable writes run here (ForwardTokenRequest); the per-peer call
  // limits bound what waits.
  static constexpr size_t kMaxQueuedWrites = 256;
  WorkerPool writers_;
};

}  // namespace

bool PeerCallLimits::Admit(const std::string& ccf_id) {
  absl::MutexLock lock(&mu_);
  State& state = peers_[ccf_id];
  if (state.in_flight >= max_) {
    if (!state.refusing) {
      state.refusing = true;
      LogWarning("bus", absl::StrCat(ccf_id, " has ", max_,
                                     " calls in flight: refusing more (RESOURCE_EXHAUSTED) until "
                                     "half of them are done"));
    }
    return false;
  }
  ++state.in_flight;
  return true;
}

void PeerCallLimits::Release(const std::string& ccf_id) {
  absl::MutexLock lock(&mu_);
  State& state = peers_[ccf_id];
  if (state.in_flight > 0) --state.in_flight;
  if (state.refusing && state.in_flight <= max_ / 2) {
    state.refusing = false;
    LogInfo("bus", absl::StrCat(ccf_id, " is below its limit of calls in flight again"));
  }
}

absl::StatusOr<const Peer*> AuthorizeCall(const PeerDirectory& peers,
                                          absl::string_view authenticated,
                                          const fv1::RequestHeader& header, fv1::Operation op) {
  if (authenticated.empty()) return absl::UnauthenticatedError("no authenticated peer identity");
  auto id = SpiffeId::Parse(authenticated);
  if (!id.ok()) return absl::UnauthenticatedError(id.status().message());
  const Peer* peer = peers.FindByIdentity(*id);
  if (peer == nullptr) {
    return absl::UnauthenticatedError(absl::StrCat(authenticated, " is not a configured peer"));
  }
  // Checked before anything echoes them, so logs and messages never carry arbitrary bytes.
  if (!IsValidIdSegment(header.origin_ccf_id())) {
    return absl::InvalidArgumentError(
        "header.origin_ccf_id is required: 1-128 characters of [A-Za-z0-9._-]");
  }
  if (!IsValidIdSegment(header.request_id())) {
    return absl::InvalidArgumentError(
        "header.request_id is required: 1-128 characters of [A-Za-z0-9._-]");
  }
  if (header.origin_ccf_id() != peer->ccf_id.value()) {
    return absl::PermissionDeniedError(
        absl::StrCat("header.origin_ccf_id '", header.origin_ccf_id(),
                     "' does not match the authenticated peer '", peer->ccf_id.value(), "'"));
  }
  if (!peer->agreement.Allows(op)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "the agreement with '", peer->ccf_id.value(), "' does not allow ", OperationName(op)));
  }
  return peer;
}

std::unique_ptr<fv1::Interconnect::CallbackService> CreateInterconnectService(
    const BusIdentity& self, std::shared_ptr<const PeerDirectory> peers, LocalCcf* local,
    InterconnectOptions options) {
  return std::make_unique<InterconnectServiceImpl>(self, std::move(peers), local, options);
}

}  // namespace capif

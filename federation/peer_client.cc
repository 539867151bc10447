#include "federation/peer_client.h"

#include <algorithm>

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/support/client_interceptor.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/rand.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/log.h"
#include "absl/time/clock.h"
#include "federation/grpc_status.h"
#include "federation/interconnect_service.h"

namespace capif {

namespace fv1 = capif::federation::v1;

std::string NewRequestId() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) std::abort();
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
}

absl::StatusOr<std::string> MultiAddressTarget(const std::vector<std::string>& endpoints) {
  std::vector<std::string> v4, v6;
  for (const std::string& e : endpoints) {
    size_t colon = e.rfind(':');
    if (colon == std::string::npos) return absl::InvalidArgumentError("not host:port: " + e);
    std::string host = e.substr(0, colon);
    std::string port = e.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    struct addrinfo hints = {};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    struct addrinfo* found = nullptr;
    int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found);
    if (rc != 0 || found == nullptr) {
      return absl::UnavailableError(
          absl::StrCat("cannot resolve '", host, "': ", ::gai_strerror(rc)));
    }
    char text[INET6_ADDRSTRLEN] = {0};
    if (found->ai_family == AF_INET) {
      ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr, text,
                  sizeof(text));
      v4.push_back(absl::StrCat(text, ":", port));
    } else {
      ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(found->ai_addr)->sin6_addr, text,
                  sizeof(text));
      v6.push_back(absl::StrCat("[", text, "]:", port));
    }
    ::freeaddrinfo(found);
  }
  if (!v4.empty() && !v6.empty()) {
    return absl::InvalidArgumentError("the endpoints mix IPv4 and IPv6 addresses");
  }
  return v4.empty() ? absl::StrCat("ipv6:", absl::StrJoin(v6, ","))
                    : absl::StrCat("ipv4:", absl::StrJoin(v4, ","));
}

void PreparePeerCall(grpc::ClientContext* ctx, absl::Time deadline) {
  ctx->set_deadline(absl::ToChronoTime(deadline));
  ctx->set_wait_for_ready(true);
}

absl::Status PeerCallError(absl::string_view ccf_id, const grpc::Status& status) {
  // A peer at its limit of our calls in flight (RESOURCE_EXHAUSTED) is busy, not a refusal of
  // this request: callers treat it as an outage (503 with Retry-After on the northbound).
  absl::StatusCode code = status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED
                              ? absl::StatusCode::kUnavailable
                              : FromGrpcStatus(status).code();
  return absl::Status(code,
                      absl::StrCat("peer ", ccf_id, ": ", status.error_message().substr(0, 160)));
}

namespace {

// Records every call this CCF makes to the peer as (peer, operation, status) with its duration,
// sync and async alike.
class ClientCallMetrics final : public grpc::experimental::Interceptor {
 public:
  ClientCallMetrics(grpc::experimental::ClientRpcInfo* info, RequestMetrics* metrics,
                    const std::string* peer)
      : info_(info), metrics_(metrics), peer_(peer), started_(absl::Now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_STATUS)) {
      grpc::Status* status = methods->GetRecvStatus();
      metrics_->Record({*peer_, OperationOfMethod(info_->method()),
                        StatusCodeName(status != nullptr ? status->error_code()
                                                         : grpc::StatusCode::UNKNOWN)},
                       absl::Now() - started_);
    }
    methods->Proceed();
  }

 private:
  grpc::experimental::ClientRpcInfo* info_;
  RequestMetrics* metrics_;
  const std::string* peer_;
  absl::Time started_;
};

class ClientCallMetricsFactory final
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  ClientCallMetricsFactory(RequestMetrics* metrics, std::string peer)
      : metrics_(metrics), peer_(std::move(peer)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* info) override {
    return new ClientCallMetrics(info, metrics_, &peer_);
  }

 private:
  RequestMetrics* metrics_;
  const std::string peer_;  // lives as long as the channel, which owns the factory
};

}  // namespace

std::unique_ptr<PeerClient> PeerClient::Create(const BusIdentity& self, const Peer& peer,
                                               const Clock& clock,
                                               absl::Duration max_reconnect_backoff,
                                               RequestMetrics* metrics) {
  auto presented = std::make_shared<PresentedIdentity>();
  grpc::ChannelArguments args;
  // Reconnect quickly after a peer restart, but do not hammer a peer that stays down.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
              static_cast<int>(absl::ToInt64Milliseconds(
                  std::max(max_reconnect_backoff, absl::Milliseconds(200)))));
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> creators;
  if (metrics != nullptr) {
    creators.push_back(std::make_unique<ClientCallMetricsFactory>(metrics, peer.ccf_id.value()));
  }
  std::string target = peer.endpoint;
  if (!peer.other_endpoints.empty()) {
    // Replicas of one CCF: one channel over all their addresses, calls spread over those that
    // answer (round_robin skips a replica that does not). The TLS check is the SPIFFE id, the
    // same for every replica, so addresses are enough.
    auto multi = MultiAddressTarget(peer.endpoints());
    if (multi.ok()) {
      target = *multi;
      args.SetServiceConfigJSON(R"({"loadBalancingConfig": [{"round_robin": {}}]})");
    } else {
      LogWarning("bus", absl::StrCat("peer ", peer.ccf_id.value(), ": ", multi.status().message(),
                                     "; calling only ", peer.endpoint));
    }
  }
  auto channel = grpc::experimental::CreateCustomChannelWithInterceptors(
      target, MakeBusChannelCredentials(self, peer, clock, presented), args,
      std::move(creators));
  auto client = std::make_unique<PeerClient>(self.ccf_id.value(),
                                             fv1::Interconnect::NewStub(channel), clock);
  client->presented_ = std::move(presented);
  return client;
}

PeerClient::PeerClient(std::string self_ccf_id,
                       std::unique_ptr<fv1::Interconnect::StubInterface> stub, const Clock& clock)
    : self_ccf_id_(std::move(self_ccf_id)), stub_(std::move(stub)), clock_(clock) {}

fv1::RequestHeader PeerClient::NewHeader() const {
  fv1::RequestHeader h;
  h.set_origin_ccf_id(self_ccf_id_);
  h.set_request_id(NewRequestId());
  return h;
}

std::string PeerClient::presented_identity() const {
  return presented_ ? presented_->Get() : "";
}

absl::StatusOr<HelloResult> PeerClient::Hello(absl::Duration timeout) {
  fv1::HelloRequest req;
  *req.mutable_header() = NewHeader();
  req.set_protocol_version(kProtocolVersion);
  grpc::ClientContext ctx;
  // Deadlines are wall-clock for gRPC; the injected clock measures the round trip.
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  HelloResult result;
  absl::Time start = clock_.Now();
  grpc::Status s = stub_->Hello(&ctx, req, &result.response);
  result.round_trip = clock_.Now() - start;
  if (!s.ok()) return FromGrpcStatus(s);
  return result;
}

absl::StatusOr<fv1::TrustBundle> PeerClient::GetTrustBundle(absl::Duration timeout,
                                                            bool wait_for_ready) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  ctx.set_wait_for_ready(wait_for_ready);
  return GetTrustBundle(&ctx);
}

absl::StatusOr<fv1::TrustBundle> PeerClient::GetTrustBundle(grpc::ClientContext* ctx) {
  fv1::GetTrustBundleRequest req;
  *req.mutable_header() = NewHeader();
  fv1::TrustBundle bundle;
  grpc::Status s = stub_->GetTrustBundle(ctx, req, &bundle);
  if (!s.ok()) return FromGrpcStatus(s);
  return bundle;
}

}  // namespace capif

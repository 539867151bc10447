// Every bus request message as a peer sends it: raw bytes (any protobuf, any non-UTF-8 text) to
// one of the Interconnect RPCs of a real BusServer, over real mTLS on 127.0.0.1, from a
// configured peer whose agreement allows every operation; the local CCF is a stub. The first
// byte picks the RPC, the rest is the message.
// Properties: the server never answers UNKNOWN (an exception escaped a handler), never lets the
// deadline pass and never goes away (UNAVAILABLE); after the call it still says Hello.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <set>
#include <string>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "federation/bus_credentials.h"
#include "federation/bus_server.h"
#include "federation/peer_directory.h"
#include "federation/testing/stub_local_ccf.h"
#include "federation/testing/test_domains.h"
#include "fuzz/fuzz_check.h"

namespace fv1 = capif::federation::v1;

namespace {

constexpr const char* kMethods[] = {"Hello",
                                    "GetTrustBundle",
                                    "DiscoverShareableApis",
                                    "RequestSecurityMethod",
                                    "QueryInvokerOwnership",
                                    "LookupSecurityInfo",
                                    "ForwardTokenRequest",
                                    "NotifyOffboarding",
                                    "NotifyRevocation",
                                    "ConfirmSecurityMethods",
                                    "NotifySharedApiChange"};

// Owns invokers whose id starts with "inv-a", so ownership and lookups go past the first check.
class FuzzLocalCcf final : public capif::StubLocalCcf {
 public:
  absl::StatusOr<bool> OwnsInvoker(const std::string& id) override {
    return id.rfind("inv-a", 0) == 0;
  }
  absl::Status ApplySharedApiChange(const capif::Peer&,
                                    const capif::SharedApiChangeNotice&) override {
    return absl::OkStatus();
  }
};

struct Bus {
  capif::TestDomains domains{capif::Clock::Real()};
  FuzzLocalCcf local;
  std::unique_ptr<capif::BusServer> server;
  std::unique_ptr<grpc::GenericStub> stub;
  grpc::CompletionQueue cq;

  Bus() {
    capif::BusIdentity a = domains.Identity("a.example", "ccf-a");
    capif::BusIdentity b = domains.Identity("b.example", "ccf-b");
    std::set<fv1::Operation> all;
    for (int op = fv1::Operation_MIN; op <= fv1::Operation_MAX; ++op) {
      if (fv1::Operation_IsValid(op) && op != 0) all.insert(static_cast<fv1::Operation>(op));
    }
    auto directory =
        capif::PeerDirectory::Create({domains.PeerFor("b.example", "ccf-b", "unused:1", all)});
    FUZZ_CHECK(directory.ok(), "peer directory");
    auto started =
        capif::BusServer::Start(a, *directory, "127.0.0.1:0", capif::Clock::Real(), &local);
    FUZZ_CHECK(started.ok(), "bus server");
    server = *std::move(started);
    std::string endpoint = absl::StrCat("127.0.0.1:", server->port());
    auto channel = grpc::CreateChannel(
        endpoint, capif::MakeBusChannelCredentials(
                      b, domains.PeerFor("a.example", "ccf-a", endpoint), capif::Clock::Real()));
    stub = std::make_unique<grpc::GenericStub>(channel);
  }

  grpc::Status Call(const std::string& method, const std::string& bytes) {
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request(&slice, 1);
    grpc::ByteBuffer response;
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    auto call = stub->PrepareUnaryCall(
        &ctx, absl::StrCat("/capif.federation.v1.Interconnect/", method), request, &cq);
    call->StartCall();
    grpc::Status status;
    call->Finish(&response, &status, this);
    void* tag = nullptr;
    bool ok = false;
    FUZZ_CHECK(cq.Next(&tag, &ok) && tag == this, "the call completes");
    return status;
  }
};

Bus& TheBus() {
  static Bus* bus = new Bus();
  return *bus;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  Bus& bus = TheBus();
  const char* method = kMethods[data[0] % (sizeof(kMethods) / sizeof(kMethods[0]))];
  std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  grpc::Status status = bus.Call(method, bytes);
  if (status.error_code() == grpc::StatusCode::UNKNOWN ||
      status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
      status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    std::fprintf(stderr, "%s answered %d: %s\n", method, status.error_code(),
                 status.error_message().c_str());
    FUZZ_CHECK(false, "a precise status, in time, from a server still up");
  }
  fv1::HelloRequest hello;
  hello.mutable_header()->set_origin_ccf_id("ccf-b");
  hello.mutable_header()->set_request_id("fuzz-hello");
  FUZZ_CHECK(bus.Call("Hello", hello.SerializeAsString()).ok(), "the bus still serves");
  return 0;
}

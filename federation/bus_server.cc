#include "federation/bus_server.h"

#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "federation/bus_credentials.h"
#include "federation/interconnect_service.h"

namespace capif {

absl::StatusOr<std::unique_ptr<BusServer>> BusServer::Start(
    const BusIdentity& self, std::shared_ptr<const PeerDirectory> peers,
    const std::string& listen_address, const Clock& clock, LocalCcf* local, AuditLog* audit) {
  std::unique_ptr<BusServer> bus(new BusServer());
  InterconnectOptions options;
  options.audit = audit;
  bus->service_ = CreateInterconnectService(self, peers, local, options);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen_address, MakeBusServerCredentials(self, peers, clock, audit),
                           &bus->port_);
  builder.RegisterService(bus->service_.get());
  // Bus messages are small; a peer cannot make us buffer more than this per message.
  builder.SetMaxReceiveMessageSize(4 << 20);
  // gRPC sets SO_REUSEPORT by default: a second ccfd on the same port would then silently share
  // it and receive half the peers' calls. A port in use must be an error.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  bus->server_ = builder.BuildAndStart();
  if (!bus->server_ || bus->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", listen_address, " (in use, or not a local address?)"));
  }
  return bus;
}

void BusServer::Shutdown(absl::Duration grace) {
  if (shut_down_ || !server_) return;
  shut_down_ = true;
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  server_->Wait();
}

BusServer::~BusServer() { Shutdown(absl::ZeroDuration()); }

}  // namespace capif

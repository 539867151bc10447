// BusServer: this CCF's CAPIF-6/6e endpoint, the Interconnect service over mutual TLS.
//
//   ASSIGN_OR_RETURN(auto server, BusServer::Start(config.bus_identity, directory,
//                                                  "127.0.0.1:0", Clock::Real()));
//   server->port();                          // the port actually bound
//   server->Shutdown(absl::Seconds(5));      // stops accepting, lets calls in flight finish
//
// Errors from Start(): Unavailable when the address cannot be bound. Thread-safe.
#ifndef CAPIF_FEDERATION_BUS_SERVER_H_
#define CAPIF_FEDERATION_BUS_SERVER_H_

#include <grpcpp/server.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "federation/peer.h"
#include "federation/audit_log.h"
#include "federation/local_ccf.h"
#include "federation/peer_directory.h"
#include "proto/interconnect.grpc.pb.h"

namespace capif {

class BusServer {
 public:
  static absl::StatusOr<std::unique_ptr<BusServer>> Start(
      const BusIdentity& self, std::shared_ptr<const PeerDirectory> peers,
      const std::string& listen_address, const Clock& clock, LocalCcf* local = nullptr,
      AuditLog* audit = nullptr);
  ~BusServer();

  int port() const { return port_; }
  // Idempotent. Calls still running after `grace` are cancelled.
  void Shutdown(absl::Duration grace);

 private:
  BusServer() = default;

  std::unique_ptr<capif::federation::v1::Interconnect::CallbackService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool shut_down_ = false;
};

}  // namespace capif

#endif  // CAPIF_FEDERATION_BUS_SERVER_H_

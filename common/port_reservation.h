// A loopback TCP port kept out of everyone else's hands while a child process listens on it.
//
// Tools and tests that must know a port before the process serving it starts (peers name each
// other's bus address in their configurations; a restarted CCF keeps its address) used to take a
// port from the kernel, close it and pass the number on: in the seconds until the child bound it,
// any other process's port-0 bind or outgoing connection could be handed the same number (seen in
// CI: "ccfd: cannot listen on 127.0.0.1:35749 (in use)").
//
// A reservation is a socket bound to 127.0.0.1:<port> with SO_REUSEADDR and never listening. The
// kernel does not give a bound port to a port-0 bind nor to a connect(), while a server that binds
// that port with SO_REUSEADDR (gRPC and net/https_server do) still can, and can again after it
// was restarted: hold the reservation for as long as the port is meant to be yours.
#ifndef CAPIF_COMMON_PORT_RESERVATION_H_
#define CAPIF_COMMON_PORT_RESERVATION_H_

#include "absl/status/statusor.h"

namespace capif {

class PortReservation {
 public:
  // A port the kernel chooses on 127.0.0.1.
  static absl::StatusOr<PortReservation> Any();
  // `port` on 127.0.0.1 (FailedPrecondition when some socket not reusing it holds it).
  static absl::StatusOr<PortReservation> Of(int port);

  PortReservation(PortReservation&& other) noexcept;
  PortReservation& operator=(PortReservation&& other) noexcept;
  PortReservation(const PortReservation&) = delete;
  PortReservation& operator=(const PortReservation&) = delete;
  ~PortReservation();

  int port() const { return port_; }

 private:
  PortReservation(int fd, int port) : fd_(fd), port_(port) {}
  int fd_ = -1;
  int port_ = 0;
};

}  // namespace capif

#endif  // CAPIF_COMMON_PORT_RESERVATION_H_

#include "common/port_reservation.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace capif {

namespace {

absl::Status Bind(int port, int* fd_out, int* port_out) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  int one = 1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  socklen_t len = sizeof(a);
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
      ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EADDRINUSE) {
      return absl::FailedPreconditionError(absl::StrCat("127.0.0.1:", port, " is in use"));
    }
    return absl::InternalError(
        absl::StrCat("cannot bind 127.0.0.1:", port, ": ", std::strerror(err)));
  }
  *fd_out = fd;
  *port_out = ntohs(a.sin_port);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PortReservation> PortReservation::Any() { return Of(0); }

absl::StatusOr<PortReservation> PortReservation::Of(int port) {
  if (port < 0 || port > 65535) return absl::InvalidArgumentError("port out of range");
  int fd = -1, bound = 0;
  absl::Status made = Bind(port, &fd, &bound);
  if (!made.ok()) return made;
  return PortReservation(fd, bound);
}

PortReservation::PortReservation(PortReservation&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), port_(std::exchange(other.port_, 0)) {}

PortReservation& PortReservation::operator=(PortReservation&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    port_ = std::exchange(other.port_, 0);
  }
  return *this;
}

PortReservation::~PortReservation() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace capif

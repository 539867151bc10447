#include "common/port_reservation.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <set>
#include <vector>

#include "gtest/gtest.h"

namespace capif {
namespace {

// A socket bound to 127.0.0.1:port (0 = the kernel's choice), listening when `listen_too`;
// returns the fd and sets *bound, or -1.
int BindLoopback(int port, bool reuse, bool listen_too, int* bound) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  if (reuse) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  socklen_t len = sizeof(a);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      (listen_too && ::listen(fd, 4) != 0) ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    return -1;
  }
  *bound = ntohs(a.sin_port);
  return fd;
}

TEST(PortReservationTest, AServerReusingTheAddressListensOnItAgainAndAgain) {
  auto held = PortReservation::Any();
  ASSERT_TRUE(held.ok()) << held.status();
  ASSERT_GT(held->port(), 0);
  for (int round = 0; round < 2; ++round) {  // a server, and the same server restarted
    int bound = 0;
    int fd = BindLoopback(held->port(), /*reuse=*/true, /*listen_too=*/true, &bound);
    ASSERT_GE(fd, 0) << "round " << round;
    EXPECT_EQ(bound, held->port());
    ::close(fd);
  }
}

TEST(PortReservationTest, NoOtherSocketIsGivenTheHeldPort) {
  auto held = PortReservation::Any();
  ASSERT_TRUE(held.ok()) << held.status();
  int bound = 0;
  EXPECT_EQ(BindLoopback(held->port(), /*reuse=*/false, /*listen_too=*/false, &bound), -1)
      << "a bind without SO_REUSEADDR must be refused";
  // Port-0 binds walk the ephemeral range: none lands on the held port (a few thousand tries,
  // well beyond the range's size divided by the handful of sockets open here).
  std::vector<int> open;
  for (int i = 0; i < 3000; ++i) {
    int fd = BindLoopback(0, /*reuse=*/false, /*listen_too=*/false, &bound);
    ASSERT_GE(fd, 0);
    EXPECT_NE(bound, held->port());
    open.push_back(fd);
    if (open.size() == 256) {
      for (int f : open) ::close(f);
      open.clear();
    }
  }
  for (int f : open) ::close(f);
}

TEST(PortReservationTest, OfRefusesAPortSomeoneListensOnAndMovesKeepTheHold) {
  int bound = 0;
  int listener = BindLoopback(0, /*reuse=*/true, /*listen_too=*/true, &bound);
  ASSERT_GE(listener, 0);
  auto taken = PortReservation::Of(bound);
  EXPECT_EQ(taken.status().code(), absl::StatusCode::kFailedPrecondition);
  ::close(listener);
  auto again = PortReservation::Of(bound);
  ASSERT_TRUE(again.ok()) << again.status();
  PortReservation moved = *std::move(again);
  EXPECT_EQ(moved.port(), bound);
  int other = 0;
  EXPECT_EQ(BindLoopback(bound, /*reuse=*/false, /*listen_too=*/false, &other), -1);
  EXPECT_EQ(PortReservation::Of(70000).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace capif

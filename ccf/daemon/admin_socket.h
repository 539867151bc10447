// AdminSocket: the file a running ccfd serves its admin API on, <data_dir>/admin.sock
// (proto/admin.proto), as both its server (admin_service.h) and its clients (admin_client.h)
// name it.
//
// A unix socket address holds at most 107 bytes of path (sockaddr_un.sun_path), and data
// directories are often deeper than that (Bazel's TEST_TMPDIR alone is about 120 bytes). So the
// data directory is opened once (O_PATH) and the socket is named through that descriptor,
// "unix:/proc/self/fd/<fd>/admin.sock" (Linux), for bind and connect alike. The checks, the
// chmod and the unlink go through the same descriptor, so they act on the directory that was
// opened even if its path is replaced meanwhile.
//
//   ASSIGN_OR_RETURN(AdminSocket socket, AdminSocket::OpenDirectory(data_dir));
//   ASSIGN_OR_RETURN(AdminSocket::State state, socket.Stat());
//   auto channel = grpc::CreateChannel(socket.grpc_address(), grpc::InsecureChannelCredentials());
//
// Errors: NotFound when the data directory does not exist; FailedPrecondition when it is not a
// directory; PermissionDenied / Internal from the system calls. Messages name the path.
// Thread-compatible: const methods may be called concurrently; moving is not thread-safe.
#ifndef CAPIF_CCF_DAEMON_ADMIN_SOCKET_H_
#define CAPIF_CCF_DAEMON_ADMIN_SOCKET_H_

#include <sys/types.h>

#include <string>

#include "absl/status/statusor.h"

namespace capif {

class AdminSocket {
 public:
  static constexpr char kFileName[] = "admin.sock";
  // The mode the server gives the socket file: connecting needs write permission on it.
  static constexpr mode_t kMode = 0600;

  // Opens `data_dir` (it must exist; nothing is created).
  static absl::StatusOr<AdminSocket> OpenDirectory(const std::string& data_dir);

  AdminSocket(AdminSocket&& other) noexcept;
  AdminSocket& operator=(AdminSocket&& other) noexcept;
  AdminSocket(const AdminSocket&) = delete;
  AdminSocket& operator=(const AdminSocket&) = delete;
  ~AdminSocket();

  // "<data_dir>/admin.sock", for messages and logs.
  const std::string& path() const { return path_; }
  // The gRPC address of the socket, valid while this object lives.
  std::string grpc_address() const;

  enum class State {
    kAbsent,    // no file of that name
    kSocket,    // a unix socket (listening or left by a process that died)
    kNotSocket  // some other kind of file (never removed)
  };
  // What is at the socket's path, without following a symbolic link.
  absl::StatusOr<State> Stat() const;
  // Connects to the socket and hangs up: OK when a process accepts connections on it;
  // Unavailable when nobody does (a socket left by a process that died), NotFound when there is
  // no socket, PermissionDenied when this user may not connect.
  absl::Status Probe() const;
  // Gives the socket file kMode.
  absl::Status RestrictToOwner() const;
  // Removes the socket file; OK if it is absent. Never removes a file that is not a socket.
  absl::Status Remove() const;
  // The permission bits of the data directory.
  absl::StatusOr<mode_t> DirectoryMode() const;

 private:
  AdminSocket(int dir_fd, std::string path) : dir_fd_(dir_fd), path_(std::move(path)) {}

  int dir_fd_ = -1;
  std::string path_;
};

}  // namespace capif

#endif  // CAPIF_CCF_DAEMON_ADMIN_SOCKET_H_

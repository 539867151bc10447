#include "ccf/daemon/admin_socket.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace capif {
namespace {

absl::Status ErrnoStatus(int err, absl::string_view what, absl::string_view path) {
  std::string message = absl::StrCat(what, " '", path, "': ", std::strerror(err));
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    case ENOTDIR:
      return absl::FailedPreconditionError(message);
    default:
      return absl::InternalError(message);
  }
}

}  // namespace

absl::StatusOr<AdminSocket> AdminSocket::OpenDirectory(const std::string& data_dir) {
  int fd = ::open(data_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "data directory", data_dir);
  return AdminSocket(fd, absl::StrCat(data_dir, "/", kFileName));
}

AdminSocket::AdminSocket(AdminSocket&& other) noexcept
    : dir_fd_(other.dir_fd_), path_(std::move(other.path_)) {
  other.dir_fd_ = -1;
}

AdminSocket& AdminSocket::operator=(AdminSocket&& other) noexcept {
  if (this != &other) {
    if (dir_fd_ >= 0) ::close(dir_fd_);
    dir_fd_ = other.dir_fd_;
    path_ = std::move(other.path_);
    other.dir_fd_ = -1;
  }
  return *this;
}

AdminSocket::~AdminSocket() {
  if (dir_fd_ >= 0) ::close(dir_fd_);
}

std::string AdminSocket::grpc_address() const {
  return absl::StrCat("unix:/proc/self/fd/", dir_fd_, "/", kFileName);
}

absl::StatusOr<AdminSocket::State> AdminSocket::Stat() const {
  struct stat st;
  if (::fstatat(dir_fd_, kFileName, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return State::kAbsent;
    return ErrnoStatus(errno, "admin socket", path_);
  }
  return S_ISSOCK(st.st_mode) ? State::kSocket : State::kNotSocket;
}

absl::Status AdminSocket::Probe() const {
  std::string address = absl::StrCat("/proc/self/fd/", dir_fd_, "/", kFileName);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (address.size() >= sizeof(addr.sun_path)) {
    return absl::InternalError(absl::StrCat("socket address too long: ", address));
  }
  std::memcpy(addr.sun_path, address.c_str(), address.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus(errno, "cannot create a socket for", path_);
  int err = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 ? 0 : errno;
  ::close(fd);
  if (err == 0) return absl::OkStatus();
  if (err == ECONNREFUSED) {
    return absl::UnavailableError(absl::StrCat("nothing accepts connections on '", path_, "'"));
  }
  return ErrnoStatus(err, "cannot connect to", path_);
}

absl::Status AdminSocket::RestrictToOwner() const {
  if (::fchmodat(dir_fd_, kFileName, kMode, 0) != 0) {
    return ErrnoStatus(errno, "cannot set the mode of", path_);
  }
  return absl::OkStatus();
}

absl::Status AdminSocket::Remove() const {
  auto state = Stat();
  if (!state.ok()) return state.status();
  if (*state == State::kAbsent) return absl::OkStatus();
  if (*state == State::kNotSocket) {
    return absl::FailedPreconditionError(
        absl::StrCat("'", path_, "' is not a socket; not removing it"));
  }
  if (::unlinkat(dir_fd_, kFileName, 0) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, "cannot remove", path_);
  }
  return absl::OkStatus();
}

absl::StatusOr<mode_t> AdminSocket::DirectoryMode() const {
  struct stat st;
  if (::fstat(dir_fd_, &st) != 0) {
    return ErrnoStatus(errno, "data directory of", path_);
  }
  return st.st_mode & 07777;
}

}  // namespace capif

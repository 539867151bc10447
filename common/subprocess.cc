#include "common/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace capif {

absl::StatusOr<std::unique_ptr<Subprocess>> Subprocess::Start(
    const std::vector<std::string>& argv) {
  if (argv.empty()) return absl::InvalidArgumentError("empty argv");
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return absl::InternalError("pipe failed");
  }
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork failed: ", std::strerror(errno)));
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    ::execv(args[0], args.data());
    const char msg[] = "exec failed\n";
    (void)!::write(2, msg, sizeof(msg) - 1);
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  return std::unique_ptr<Subprocess>(new Subprocess(pid, out_pipe[0], err_pipe[0]));
}

Subprocess::~Subprocess() {
  if (!exited_) {
    ::kill(pid_, SIGKILL);
    int status;
    ::waitpid(pid_, &status, 0);
  }
  if (out_fd_ >= 0) ::close(out_fd_);
  if (err_fd_ >= 0) ::close(err_fd_);
}

bool Subprocess::Pump(absl::Duration timeout) {
  struct pollfd fds[2];
  int n = 0;
  if (out_fd_ >= 0) fds[n++] = {out_fd_, POLLIN, 0};
  if (err_fd_ >= 0) fds[n++] = {err_fd_, POLLIN, 0};
  if (n == 0) return true;
  int ms = static_cast<int>(absl::ToInt64Milliseconds(timeout));
  int rc = ::poll(fds, n, ms < 0 ? 0 : ms);
  if (rc == 0) return false;
  if (rc < 0) return errno == EINTR;
  for (int i = 0; i < n; ++i) {
    if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
    char buf[4096];
    ssize_t got = ::read(fds[i].fd, buf, sizeof(buf));
    bool is_out = fds[i].fd == out_fd_;
    if (got > 0) {
      (is_out ? out_ : err_).append(buf, static_cast<size_t>(got));
    } else if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN)) {
      ::close(fds[i].fd);
      (is_out ? out_fd_ : err_fd_) = -1;
    }
  }
  return true;
}

absl::StatusOr<std::string> Subprocess::ReadStdoutLine(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (true) {
    size_t nl = out_.find('\n', out_line_pos_);
    if (nl != std::string::npos) {
      std::string line = out_.substr(out_line_pos_, nl - out_line_pos_);
      out_line_pos_ = nl + 1;
      return line;
    }
    if (out_fd_ < 0) return absl::OutOfRangeError("end of output");
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration() || !Pump(left)) {
      return absl::DeadlineExceededError("no line on stdout in time");
    }
  }
}

absl::Status Subprocess::WaitForStderr(absl::string_view needle, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::string_view(err_).find(needle) == absl::string_view::npos) {
    if (err_fd_ < 0) return absl::OutOfRangeError("stderr closed");
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration() || !Pump(left)) {
      return absl::DeadlineExceededError(absl::StrCat("'", needle, "' not seen on stderr"));
    }
  }
  return absl::OkStatus();
}

void Subprocess::Signal(int signo) {
  if (!exited_) ::kill(pid_, signo);
}

absl::StatusOr<int> Subprocess::Wait(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (!exited_) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exited_ = true;
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return absl::DeadlineExceededError("process still running");
    // Wake on output or at most every 20 ms to reap the child: a bounded poll, not a sleep.
    Pump(std::min(left, absl::Milliseconds(20)));
  }
  while (out_fd_ >= 0 || err_fd_ >= 0) {
    if (!Pump(absl::Seconds(1))) break;  // a grandchild still holds the pipe; stop draining
  }
  return exit_code_;
}

absl::StatusOr<RunResult> RunToCompletion(const std::vector<std::string>& argv,
                                          absl::Duration timeout) {
  auto proc = Subprocess::Start(argv);
  if (!proc.ok()) return proc.status();
  auto code = (*proc)->Wait(timeout);
  if (!code.ok()) return code.status();
  return RunResult{*code, (*proc)->stdout_text(), (*proc)->stderr_text()};
}

}  // namespace capif

// Subprocess: runs a program with its stdout and stderr captured, for CLI tests, interop tests and
// the scenario runner.
//
//   ASSIGN_OR_RETURN(auto proc, Subprocess::Start({"/path/ccfd", "--config", cfg}));
//   ASSIGN_OR_RETURN(std::string line, proc->ReadStdoutLine(absl::Seconds(20)));
//   proc->Signal(SIGTERM);
//   ASSIGN_OR_RETURN(int code, proc->Wait(absl::Seconds(10)));
//
//   ASSIGN_OR_RETURN(RunResult r, RunToCompletion({"capif-pki", "--help"}, absl::Seconds(30)));
//
// The timeouts are upper bounds for a process that misbehaves, not waits: every call returns as
// soon as the process has produced what is asked. DeadlineExceeded when a bound is hit. The child
// is killed (SIGKILL) if the Subprocess is destroyed while it still runs. Not thread-safe.
#ifndef CAPIF_COMMON_SUBPROCESS_H_
#define CAPIF_COMMON_SUBPROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace capif {

class Subprocess {
 public:
  // Starts argv[0] (a path) with the current environment. Standard input is /dev/null.
  static absl::StatusOr<std::unique_ptr<Subprocess>> Start(const std::vector<std::string>& argv);
  ~Subprocess();

  // The next line written to stdout, without its newline. OutOfRange at end of output.
  absl::StatusOr<std::string> ReadStdoutLine(absl::Duration timeout);
  // Returns as soon as the child's stderr contains `needle`; DeadlineExceeded if it does not
  // within `timeout`, OutOfRange if stderr closes first.
  absl::Status WaitForStderr(absl::string_view needle, absl::Duration timeout);
  // Sends `signo` to the child.
  void Signal(int signo);
  // Waits for the child to exit, draining its output meanwhile. Returns its exit code, or
  // 128 + signal number when it was killed by a signal.
  absl::StatusOr<int> Wait(absl::Duration timeout);

  // Everything read so far from stdout / stderr (lines returned by ReadStdoutLine included).
  const std::string& stdout_text() const { return out_; }
  const std::string& stderr_text() const { return err_; }
  pid_t pid() const { return pid_; }

 private:
  Subprocess(pid_t pid, int out_fd, int err_fd) : pid_(pid), out_fd_(out_fd), err_fd_(err_fd) {}
  // Reads whatever is available within `timeout`; false on timeout.
  bool Pump(absl::Duration timeout);

  pid_t pid_;
  int out_fd_;
  int err_fd_;
  bool exited_ = false;
  int exit_code_ = -1;
  std::string out_;
  std::string err_;
  size_t out_line_pos_ = 0;
};

struct RunResult {
  int exit_code;
  std::string out;
  std::string err;
};

absl::StatusOr<RunResult> RunToCompletion(const std::vector<std::string>& argv,
                                          absl::Duration timeout);

}  // namespace capif

#endif  // CAPIF_COMMON_SUBPROCESS_H_

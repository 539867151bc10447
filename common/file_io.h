// Whole-file reads and crash-safe writes.
//
// WriteFileAtomic writes to a temporary file in the same directory, fsyncs it, and renames it over
// the target, so a reader sees either the old or the new content, never a partial file.
// Errors: NotFound (missing file), PermissionDenied, Internal for other I/O failures; the message
// names the path. Thread-safe.
#ifndef CAPIF_COMMON_FILE_IO_H_
#define CAPIF_COMMON_FILE_IO_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace capif {

// Files larger than `max_bytes` are refused (FailedPrecondition), so a wrong path cannot make us
// read a huge file into memory.
absl::StatusOr<std::string> ReadFile(const std::string& path, size_t max_bytes = 16 << 20);

// Writes all of `content` to `fd`, fsyncs and closes it (always closed); `path` names the file
// in errors.
absl::Status WriteAllAndClose(int fd, absl::string_view content, const std::string& path);

// `mode` is the permission of the new file, e.g. 0600 for private keys.
absl::Status WriteFileAtomic(const std::string& path, absl::string_view content, int mode = 0644);

// Like `mkdir -p`: creates `path` and any missing parents with `mode`. OK if it already exists as
// a directory.
absl::Status MakeDirectories(const std::string& path, int mode = 0755);

}  // namespace capif

#endif  // CAPIF_COMMON_FILE_IO_H_

#include "common/openssl_error.h"

#include <openssl/err.h>

#include "absl/strings/str_cat.h"

namespace capif {

absl::Status OpenSslError(absl::string_view what, absl::StatusCode code) {
  unsigned long err = ERR_get_error();  // the first error is the root cause
  ERR_clear_error();
  char buf[256];
  if (err == 0) return absl::Status(code, what);
  ERR_error_string_n(err, buf, sizeof(buf));
  return absl::Status(code, absl::StrCat(what, ": ", buf));
}

}  // namespace capif

#include "common/openssl_error.h"

#include <openssl/err.h>

#include "absl/strings/str_cat.h"

namespace capif {

absl::Status OpenSslError(absl::string_view what, absl::StatusCode code) {
  unsigned long err = ERR_get_error();  // the first error is the root cause
  ERR_clear_error();
  // Bad input (any code but Internal) reaches REST and bus clients: `what` says what is wrong
  // with it, without OpenSSL's codes ("error:0480006C:PEM routines::no start line").
  if (err == 0 || code != absl::StatusCode::kInternal) return absl::Status(code, what);
  char buf[256];
  ERR_error_string_n(err, buf, sizeof(buf));
  return absl::Status(code, absl::StrCat(what, ": ", buf));
}

}  // namespace capif

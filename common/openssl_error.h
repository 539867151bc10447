// Turns OpenSSL's thread-local error queue into an absl::Status, and clears it.
//
//   if (EVP_PKEY_keygen(ctx, &pkey) != 1) return OpenSslError("generating the EC key");
//
// Thread-safe (OpenSSL's error queue is per thread).
#ifndef CAPIF_COMMON_OPENSSL_ERROR_H_
#define CAPIF_COMMON_OPENSSL_ERROR_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace capif {

// InternalError("<what>: <first OpenSSL error>"), for the log (clients see "internal error").
// With another code (bad input), just `what`: that message reaches clients, and OpenSSL's
// error strings are for the people who debug OpenSSL. The queue is cleared either way.
absl::Status OpenSslError(absl::string_view what,
                          absl::StatusCode code = absl::StatusCode::kInternal);

}  // namespace capif

#endif  // CAPIF_COMMON_OPENSSL_ERROR_H_

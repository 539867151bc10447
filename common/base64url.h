// Base64url without padding (RFC 4648 section 5, as JOSE uses it, RFC 7515 section 2).
//
// Decoding is strict: only the URL-safe alphabet, no padding, no whitespace, and no
// non-canonical trailing bits; anything else is InvalidArgument. Thread-safe.
#ifndef CAPIF_COMMON_BASE64URL_H_
#define CAPIF_COMMON_BASE64URL_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace capif {

std::string Base64UrlEncode(absl::string_view data);
absl::StatusOr<std::string> Base64UrlDecode(absl::string_view text);

}  // namespace capif

#endif  // CAPIF_COMMON_BASE64URL_H_

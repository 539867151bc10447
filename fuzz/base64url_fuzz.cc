// base64url (common/base64url): JWS segments, JWK coordinates, PSK identities.
// Properties: decoding is canonical (what decodes re-encodes to the same text) and encoding
// round-trips any bytes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/base64url.h"
#include "fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto decoded = capif::Base64UrlDecode(text);
  if (decoded.ok()) {
    FUZZ_CHECK(capif::Base64UrlEncode(*decoded) == text, "one encoding per byte string");
  } else {
    FUZZ_CHECK(decoded.status().code() == absl::StatusCode::kInvalidArgument, "refusals are 400");
  }
  auto back = capif::Base64UrlDecode(capif::Base64UrlEncode(text));
  FUZZ_CHECK(back.ok() && *back == text, "encode then decode is the identity");
  return 0;
}

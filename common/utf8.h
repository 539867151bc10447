// UTF-8 validation for input from the network (RFC 3629): no overlong forms, no surrogates
// (U+D800-U+DFFF), nothing above U+10FFFF, no truncated sequence. Thread-safe (a pure function).
//
//   if (!IsValidUtf8(path)) return RestError(400, "the request path is not valid UTF-8");
#ifndef CAPIF_COMMON_UTF8_H_
#define CAPIF_COMMON_UTF8_H_

#include "absl/strings/string_view.h"

namespace capif {

bool IsValidUtf8(absl::string_view text);

}  // namespace capif

#endif  // CAPIF_COMMON_UTF8_H_

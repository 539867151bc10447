// Message digests over OpenSSL.
#ifndef CAPIF_COMMON_DIGEST_H_
#define CAPIF_COMMON_DIGEST_H_

#include <string>

#include "absl/strings/string_view.h"

namespace capif {

// SHA-256 of `data`: 32 raw bytes.
std::string Sha256(absl::string_view data);

}  // namespace capif

#endif  // CAPIF_COMMON_DIGEST_H_

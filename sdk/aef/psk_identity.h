// The first PSK identity of a TLS 1.3 ClientHello's pre_shared_key extension (RFC 8446 4.2.11),
// read from the raw extension bytes before OpenSSL has parsed them: the AEF looks it up (the
// invoker id) while the handshake is paused. The bytes are the client's: nothing is assumed.
//
//   std::string id = FirstPskIdentity(ext, len);  // "" if malformed or empty
//
// Pure; thread-safe.
#ifndef CAPIF_SDK_AEF_PSK_IDENTITY_H_
#define CAPIF_SDK_AEF_PSK_IDENTITY_H_

#include <cstddef>
#include <string>

namespace capif {

// "" unless `ext` starts with an identities list that fits in `len` and whose first entry (a
// non-empty identity and its 4-byte obfuscated_ticket_age) fits in that list.
std::string FirstPskIdentity(const unsigned char* ext, size_t len);

}  // namespace capif

#endif  // CAPIF_SDK_AEF_PSK_IDENTITY_H_

#include "sdk/aef/psk_identity.h"

namespace capif {

std::string FirstPskIdentity(const unsigned char* ext, size_t len) {
  // struct { opaque identity<1..2^16-1>; uint32 obfuscated_ticket_age; } PskIdentity;
  // struct { PskIdentity identities<7..2^16-1>; PskBinderEntry binders<33..2^16-1>; }
  if (ext == nullptr || len < 2) return "";
  size_t list_len = (size_t{ext[0]} << 8) | ext[1];
  if (list_len < 2 || list_len > len - 2) return "";  // so ext[2], ext[3] exist
  size_t id_len = (size_t{ext[2]} << 8) | ext[3];
  if (id_len == 0 || 2 + id_len + 4 > list_len) return "";
  return std::string(reinterpret_cast<const char*>(ext + 4), id_len);
}

}  // namespace capif

// AEFPSK derivation (TS 33.122 Annex A.1, with the KDF of TS 33.220 Annex B.2), shared by the
// CCF and the invoker SDK so that both sides compute the same key from the same CAPIF-1e TLS
// session.
//
//   AEFPSK = HMAC-SHA-256(Key, FC || P0 || L0 || P1 || L1)
//     FC = 0x7A
//     P0 = service API interface information of the AEF (AefInterfaceInfo below), L0 its length
//     P1 = the CAPIF-1e TLS session id, L1 its length (two octets, big-endian each)
//     Key = the CAPIF-1e TLS master secret
//
// TLS 1.3 has neither a master secret nor a session id. capif-fed defines (docs/aefpsk.md):
//     Key = TLS-Exporter("EXPORTER-3GPP-CAPIF-AEFPSK-KEY", "", 48)        (RFC 8446 7.5)
//     P1  = TLS-Exporter("EXPORTER-3GPP-CAPIF-AEFPSK-SESSION-ID", "", 32)
// and then applies the same KDF, so a TLS 1.3 CAPIF-1e connection yields one AEFPSK per
// connection just as a TLS 1.2 session does.
//
// Errors: FailedPrecondition when the TLS session cannot provide key material (no handshake
// completed, TLS 1.2 without a session id, e.g. with session tickets on), InvalidArgument for
// inputs longer than 65535 octets. Thread-safe (no shared state).
#ifndef CAPIF_COMMON_AEF_PSK_H_
#define CAPIF_COMMON_AEF_PSK_H_

#include <openssl/ssl.h>

#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/secret_bytes.h"

namespace capif {

inline constexpr unsigned char kAefPskFc = 0x7A;

// Key material of one CAPIF-1e TLS session, enough to derive AEFPSKs for any AEF interface.
struct CapifTlsKeyMaterial {
  SecretBytes key;         // TLS 1.2 master secret, or the TLS 1.3 exporter value
  std::string session_id;  // TLS 1.2 session id, or the TLS 1.3 exporter value
  int tls_version = 0;     // TLS1_2_VERSION or TLS1_3_VERSION
};

// From a connection whose handshake is complete (either side).
absl::StatusOr<CapifTlsKeyMaterial> KeyMaterialFromTls(const SSL* ssl);

// The KDF itself.
absl::StatusOr<SecretBytes> DeriveAefPsk(const SecretBytes& key, absl::string_view interface_info,
                                         absl::string_view session_id);

// P0 for an AEF interface (a TS 29.222 InterfaceDescription): "<host>:<port><apiPrefix>", where
// host is the fqdn if given, else the IPv4 address, else "[<IPv6 address>]".
std::string AefInterfaceInfo(absl::string_view fqdn, absl::string_view ipv4,
                             absl::string_view ipv6, int port, absl::string_view api_prefix);

// P0 for an AEF profile as published (TS 29.222 AefProfile JSON): `iface` (an
// InterfaceDescription) when the security request named one, else the profile's first
// interfaceDescriptions entry, else its domainName. CCF and invoker both call this, so they
// pick the same interface.
std::string AefInterfaceInfoOfProfile(const nlohmann::json& profile, const nlohmann::json& iface);

}  // namespace capif

#endif  // CAPIF_COMMON_AEF_PSK_H_

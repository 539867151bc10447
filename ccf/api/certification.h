// Certificates and ids for the API invokers and API provider functions this CCF enrols.
//
//   ASSIGN_OR_RETURN(std::string pem, CertifyPublicKey(ca, SpiffeId::Kind::kAef, "aef-1",
//                                                      csr_pem, "regInfo.apiProvPubKey", clock,
//                                                      absl::Hours(24 * 90)));
//
// The key may be a PEM CSR (its signature is checked: proof of possession) or a PEM public key.
// Errors: a 400 InvalidParam naming `param` for a bad key; Internal for CA failures.
// Thread-safe.
#ifndef CAPIF_CCF_API_CERTIFICATION_H_
#define CAPIF_CCF_API_CERTIFICATION_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/certificate_authority.h"
#include "common/clock.h"

namespace capif {

absl::StatusOr<std::string> CertifyPublicKey(const CertificateAuthority& ca, SpiffeId::Kind kind,
                                             const std::string& id,
                                             const std::string& public_key_pem,
                                             absl::string_view param, const Clock& clock,
                                             absl::Duration validity);

// True if `certificate_pem` certifies the key in `public_key_pem` (CSR or PEM key).
bool CertifiesSameKey(const std::string& certificate_pem, const std::string& public_key_pem);

// "<prefix>-<32 random hex digits>", a valid SPIFFE id segment.
std::string NewResourceId(absl::string_view prefix);

}  // namespace capif

#endif  // CAPIF_CCF_API_CERTIFICATION_H_

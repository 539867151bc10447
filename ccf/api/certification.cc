#include "ccf/api/certification.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "net/rest_types.h"
#include "common/secret_bytes.h"
#include "common/status_macros.h"
#include "common/x509_cert.h"

namespace capif {

absl::StatusOr<std::string> CertifyPublicKey(const CertificateAuthority& ca, SpiffeId::Kind kind,
                                             const std::string& id,
                                             const std::string& public_key_pem,
                                             absl::string_view param, const Clock& clock,
                                             absl::Duration validity) {
  auto key = PublicKeyFromCsrOrKeyPem(public_key_pem);
  if (!key.ok()) return InvalidParamError(param, key.status().message());
  if (absl::Status usable = key->CheckCertifiable(); !usable.ok()) {
    return InvalidParamError(param, usable.message());
  }
  ASSIGN_OR_RETURN(SpiffeId identity, SpiffeId::Create(ca.trust_domain(), kind, id));
  ASSIGN_OR_RETURN(X509Cert cert, ca.Issue({identity, &*key, {}, {}, validity}, clock));
  return cert.ToPem();
}

bool CertifiesSameKey(const std::string& certificate_pem, const std::string& public_key_pem) {
  auto cert = X509Cert::FromPem(certificate_pem);
  auto key = PublicKeyFromCsrOrKeyPem(public_key_pem);
  if (!cert.ok() || !key.ok()) return false;
  auto cert_key = cert->PublicKey();
  return cert_key.ok() && cert_key->PublicKeyEquals(*key);
}

std::string NewResourceId(absl::string_view prefix) {
  SecretBytes r = SecretBytes::Random(16);
  return absl::StrCat(prefix, "-", absl::BytesToHexString(r.Reveal(InsecureSecretAccess())));
}

}  // namespace capif

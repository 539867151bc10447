// CertificateAuthority: a domain CA that issues SPIFFE-identity certificates.
//
// Root CAs are EC P-256, self-signed, with basicConstraints CA:TRUE (pathlen 0) and keyCertSign.
// Leaves carry exactly one URI SAN (the SPIFFE id), optional DNS/IP SANs, CA:FALSE,
// digitalSignature, and extendedKeyUsage serverAuth + clientAuth so the same certificate serves for
// TLS in both directions. Serial numbers are 159 random bits.
//
//   ASSIGN_OR_RETURN(auto root, CertificateAuthority::CreateRoot(td, clock, absl::Hours(24*3650)));
//   ASSIGN_OR_RETURN(X509Cert leaf, root.Issue(request, clock));
//
// Errors: InvalidArgument for bad requests (a SPIFFE id outside the CA's trust domain, a bad IP,
// a non-positive validity), Internal for OpenSSL failures. Issue() is thread-safe.
#ifndef CAPIF_COMMON_CERTIFICATE_AUTHORITY_H_
#define CAPIF_COMMON_CERTIFICATE_AUTHORITY_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/evp_key.h"
#include "common/ids.h"
#include "common/x509_cert.h"

namespace capif {

struct LeafRequest {
  SpiffeId identity;
  const EvpKey* public_key = nullptr;  // the subject's key; only its public half is used
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  absl::Duration validity = absl::Hours(24 * 365);
};

class CertificateAuthority {
 public:
  // A new self-signed root CA for `trust_domain`, with a new key.
  static absl::StatusOr<CertificateAuthority> CreateRoot(const TrustDomain& trust_domain,
                                                         const Clock& clock,
                                                         absl::Duration validity);
  // An existing CA. InvalidArgument if `cert` is not a CA, `key` does not match it, or the
  // certificate does not name its trust domain in a URI SAN of the form spiffe://<td>.
  static absl::StatusOr<CertificateAuthority> FromCertAndKey(X509Cert cert, EvpKey key);

  absl::StatusOr<X509Cert> Issue(const LeafRequest& request, const Clock& clock) const;

  // Like Issue(), but the SPIFFE id may name another trust domain. Only for tests that must forge
  // certificates a real CA would never issue.
  absl::StatusOr<X509Cert> IssueUncheckedForTesting(const LeafRequest& request,
                                                    const Clock& clock) const;

  const X509Cert& certificate() const { return cert_; }
  const EvpKey& key() const { return key_; }
  const TrustDomain& trust_domain() const { return trust_domain_; }

 private:
  CertificateAuthority(X509Cert cert, EvpKey key, TrustDomain td)
      : cert_(std::move(cert)), key_(std::move(key)), trust_domain_(std::move(td)) {}

  X509Cert cert_;
  EvpKey key_;
  TrustDomain trust_domain_;
};

}  // namespace capif

#endif  // CAPIF_COMMON_CERTIFICATE_AUTHORITY_H_

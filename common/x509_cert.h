// X509Cert: an owned OpenSSL X509 certificate (RAII) with PEM import/export and the SAN fields
// capif-fed relies on. TrustBundle: a set of root CAs of one trust domain that verifies chains.
//
//   ASSIGN_OR_RETURN(std::vector<X509Cert> chain, X509Cert::ChainFromPem(pem));
//   ASSIGN_OR_RETURN(TrustBundle bundle, TrustBundle::FromPem(roots_pem));
//   RETURN_IF_ERROR(bundle.Verify(chain, clock.Now()));
//
// Errors: InvalidArgument for unparsable input; Unauthenticated when a chain does not verify.
// Both classes are immutable after construction and safe to use from several threads.
#ifndef CAPIF_COMMON_X509_CERT_H_
#define CAPIF_COMMON_X509_CERT_H_

#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/evp_key.h"

namespace capif {

class X509Cert {
 public:
  // Takes ownership of `cert` (must not be null).
  explicit X509Cert(X509* cert) : cert_(cert) {}
  X509Cert(const X509Cert& other);
  X509Cert& operator=(const X509Cert& other);
  X509Cert(X509Cert&&) = default;
  X509Cert& operator=(X509Cert&&) = default;

  // Exactly one certificate; InvalidArgument otherwise.
  static absl::StatusOr<X509Cert> FromPem(absl::string_view pem);
  // One or more certificates, in order; InvalidArgument if none or any is malformed.
  static absl::StatusOr<std::vector<X509Cert>> ChainFromPem(absl::string_view pem);

  absl::StatusOr<std::string> ToPem() const;

  std::vector<std::string> UriSans() const;
  std::vector<std::string> DnsSans() const;
  // IP SANs in text form ("127.0.0.1", "::1").
  std::vector<std::string> IpSans() const;
  // The subject as a one-line string (RFC 2253).
  std::string Subject() const;
  bool IsCa() const;
  absl::Time NotBefore() const;
  absl::Time NotAfter() const;
  // The certificate's public key (a new reference).
  absl::StatusOr<EvpKey> PublicKey() const;

  X509* get() const { return cert_.get(); }

 private:
  struct Deleter {
    void operator()(X509* p) const { X509_free(p); }
  };
  std::unique_ptr<X509, Deleter> cert_;
};

// A PEM PKCS#10 certificate signing request for `key`, self-signed with it (SHA-256). The
// subject is empty: the CA sets the identity.
absl::StatusOr<std::string> CreateCsrPem(const EvpKey& key);

// The public key of a PEM certificate signing request (PKCS#10), after checking the request's
// self-signature (proof of possession). InvalidArgument if malformed or the signature is wrong.
absl::StatusOr<EvpKey> PublicKeyFromCsrPem(absl::string_view pem);

// A PEM public key (SubjectPublicKeyInfo) or a PEM CSR, whichever `pem` holds.
absl::StatusOr<EvpKey> PublicKeyFromCsrOrKeyPem(absl::string_view pem);

// Concatenated PEM of `certs`.
absl::StatusOr<std::string> ChainToPem(const std::vector<X509Cert>& certs);

class TrustBundle {
 public:
  // An empty bundle: verifies nothing.
  TrustBundle() = default;

  // `pem` holds one or more CA certificates. InvalidArgument if empty, malformed or if one is not
  // a CA certificate.
  static absl::StatusOr<TrustBundle> FromPem(absl::string_view pem);

  // Verifies `chain` (leaf first, then any intermediates) against these roots only, at time `now`,
  // for TLS client or server use. Unauthenticated with the OpenSSL reason if it does not verify.
  absl::Status Verify(const std::vector<X509Cert>& chain, absl::Time now) const;

  const std::vector<X509Cert>& roots() const { return roots_; }
  // The roots as concatenated PEM, as configured.
  const std::string& pem() const { return pem_; }

 private:
  struct StoreDeleter {
    void operator()(X509_STORE* s) const { X509_STORE_free(s); }
  };
  TrustBundle(std::vector<X509Cert> roots, std::string pem, X509_STORE* store)
      : roots_(std::move(roots)), pem_(std::move(pem)), store_(store, StoreDeleter()) {}

  std::vector<X509Cert> roots_;
  std::string pem_;
  std::shared_ptr<X509_STORE> store_;
};

}  // namespace capif

#endif  // CAPIF_COMMON_X509_CERT_H_

// EvpKey: an owned OpenSSL 3 EVP_PKEY (RAII), with generation and PEM import/export.
//
//   ASSIGN_OR_RETURN(EvpKey key, EvpKey::GenerateEcP256());
//   ASSIGN_OR_RETURN(SecretBytes pem, key.PrivateKeyPem());   // PKCS#8, unencrypted
//   ASSIGN_OR_RETURN(EvpKey again, EvpKey::FromPrivateKeyPem(pem));
//
// Errors: InvalidArgument for unparsable input, Internal for OpenSSL failures.
// An EvpKey may be used from several threads for signing/verifying (OpenSSL 3 keys are
// reference-counted and read-only once built); moving is not thread-safe.
#ifndef CAPIF_COMMON_EVP_KEY_H_
#define CAPIF_COMMON_EVP_KEY_H_

#include <openssl/evp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/secret_bytes.h"

namespace capif {

class EvpKey {
 public:
  // Takes ownership of `pkey` (must not be null).
  explicit EvpKey(EVP_PKEY* pkey) : pkey_(pkey) {}

  static absl::StatusOr<EvpKey> GenerateEcP256();
  static absl::StatusOr<EvpKey> FromPrivateKeyPem(const SecretBytes& pem);
  static absl::StatusOr<EvpKey> FromPublicKeyPem(absl::string_view pem);

  absl::StatusOr<SecretBytes> PrivateKeyPem() const;
  absl::StatusOr<std::string> PublicKeyPem() const;

  // True if both hold the same public key.
  bool PublicKeyEquals(const EvpKey& other) const;

  // OK if the CA may certify this key for a party: EC on P-256, P-384 or P-521, RSA of 2048
  // to 8192 bits (larger keys cost every verifier without adding security), or Ed25519.
  // InvalidArgument saying which otherwise.
  absl::Status CheckCertifiable() const;

  EVP_PKEY* get() const { return pkey_.get(); }

 private:
  struct Deleter {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  };
  std::unique_ptr<EVP_PKEY, Deleter> pkey_;
};

}  // namespace capif

#endif  // CAPIF_COMMON_EVP_KEY_H_

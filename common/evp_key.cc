#include "common/evp_key.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "absl/strings/str_cat.h"
#include "common/openssl_error.h"

namespace capif {
namespace {

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

BioPtr MemBio(absl::string_view data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

}  // namespace

absl::StatusOr<EvpKey> EvpKey::GenerateEcP256() {
  EVP_PKEY* pkey = EVP_EC_gen("P-256");
  if (pkey == nullptr) return OpenSslError("generating an EC P-256 key");
  return EvpKey(pkey);
}

absl::StatusOr<EvpKey> EvpKey::FromPrivateKeyPem(const SecretBytes& pem) {
  BioPtr bio = MemBio(pem.Reveal(InsecureSecretAccess()));
  if (!bio) return OpenSslError("allocating a BIO");
  EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  if (pkey == nullptr) {
    return OpenSslError("the private key is not a valid unencrypted PEM key",
                        absl::StatusCode::kInvalidArgument);
  }
  return EvpKey(pkey);
}

absl::StatusOr<EvpKey> EvpKey::FromPublicKeyPem(absl::string_view pem) {
  BioPtr bio = MemBio(pem);
  if (!bio) return OpenSslError("allocating a BIO");
  EVP_PKEY* pkey = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  if (pkey == nullptr) {
    return OpenSslError(
        "the public key is not a valid PEM SubjectPublicKeyInfo (-----BEGIN PUBLIC KEY-----)",
        absl::StatusCode::kInvalidArgument);
  }
  return EvpKey(pkey);
}

absl::StatusOr<SecretBytes> EvpKey::PrivateKeyPem() const {
  BioPtr bio(BIO_new(BIO_s_secmem()));
  if (!bio) return OpenSslError("allocating a BIO");
  if (PEM_write_bio_PrivateKey(bio.get(), pkey_.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
      1) {
    return OpenSslError("encoding the private key");
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return SecretBytes(absl::string_view(data, static_cast<size_t>(len)));
}

absl::StatusOr<std::string> EvpKey::PublicKeyPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) return OpenSslError("allocating a BIO");
  if (PEM_write_bio_PUBKEY(bio.get(), pkey_.get()) != 1) {
    return OpenSslError("encoding the public key");
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

bool EvpKey::PublicKeyEquals(const EvpKey& other) const {
  return EVP_PKEY_eq(pkey_.get(), other.pkey_.get()) == 1;
}

absl::Status EvpKey::CheckCertifiable() const {
  switch (EVP_PKEY_get_base_id(pkey_.get())) {
    case EVP_PKEY_EC: {
      char curve[64] = {0};
      size_t len = 0;
      if (EVP_PKEY_get_utf8_string_param(pkey_.get(), OSSL_PKEY_PARAM_GROUP_NAME, curve,
                                         sizeof(curve), &len) != 1) {
        ERR_clear_error();
        return absl::InvalidArgumentError(
            "an EC key must be on a named curve (P-256, P-384, P-521)");
      }
      std::string name(curve, len);
      if (name == "prime256v1" || name == "secp384r1" || name == "secp521r1") {
        return absl::OkStatus();
      }
      return absl::InvalidArgumentError(
          absl::StrCat("EC curve ", name.substr(0, 32), " is not accepted (P-256, P-384, P-521)"));
    }
    case EVP_PKEY_RSA: {
      int bits = EVP_PKEY_get_bits(pkey_.get());
      if (bits >= 2048 && bits <= 8192) return absl::OkStatus();
      return absl::InvalidArgumentError(
          absl::StrCat("an RSA key of ", bits, " bits is not accepted (2048 to 8192)"));
    }
    case EVP_PKEY_ED25519:
      return absl::OkStatus();
    default:
      return absl::InvalidArgumentError(
          "the key type is not accepted (EC P-256, P-384 or P-521, RSA, or Ed25519)");
  }
}

}  // namespace capif

#include "common/evp_key.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>

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
    return OpenSslError("the public key is not valid PEM", absl::StatusCode::kInvalidArgument);
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

}  // namespace capif

#include "common/secret_bytes.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <cstdlib>
#include <utility>

namespace capif {

SecretBytes::SecretBytes(absl::string_view bytes) : bytes_(bytes.begin(), bytes.end()) {}

SecretBytes::SecretBytes(const SecretBytes& other) : bytes_(other.bytes_) {}

SecretBytes& SecretBytes::operator=(const SecretBytes& other) {
  if (this != &other) {
    Wipe();
    bytes_ = other.bytes_;
  }
  return *this;
}

SecretBytes::SecretBytes(SecretBytes&& other) noexcept : bytes_(std::move(other.bytes_)) {
  other.Wipe();
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Wipe();
    bytes_ = std::move(other.bytes_);
    other.Wipe();
  }
  return *this;
}

SecretBytes::~SecretBytes() { Wipe(); }

void SecretBytes::Wipe() {
  if (!bytes_.empty()) OPENSSL_cleanse(bytes_.data(), bytes_.size());
  bytes_.clear();
}

SecretBytes SecretBytes::Random(size_t n) {
  SecretBytes out;
  out.bytes_.resize(n);
  if (n > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(out.bytes_.data()),
                          static_cast<int>(n)) != 1) {
    std::abort();
  }
  return out;
}

bool SecretBytes::Equals(const SecretBytes& other) const {
  if (bytes_.size() != other.bytes_.size()) return false;
  if (bytes_.empty()) return true;
  return CRYPTO_memcmp(bytes_.data(), other.bytes_.data(), bytes_.size()) == 0;
}

}  // namespace capif

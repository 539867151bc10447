// SecretBytes: key material and other secrets. The bytes are wiped (OPENSSL_cleanse) when the
// object is destroyed or overwritten, compared in constant time (CRYPTO_memcmp), and never printed:
// there is no operator<< and no implicit conversion. Reading the raw bytes goes through
// Reveal(InsecureSecretAccess()), so every place that touches a secret is greppable.
//
//   SecretBytes psk = SecretBytes::Random(32);
//   Use(psk.Reveal(InsecureSecretAccess()));
//
// Not thread-safe for concurrent mutation; const access from several threads is fine.
#ifndef CAPIF_COMMON_SECRET_BYTES_H_
#define CAPIF_COMMON_SECRET_BYTES_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/strings/string_view.h"

namespace capif {

// A token whose only purpose is to make raw secret access explicit at the call site.
class InsecureSecretAccess {
 public:
  InsecureSecretAccess() = default;
};

class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(absl::string_view bytes);
  SecretBytes(const SecretBytes& other);
  SecretBytes& operator=(const SecretBytes& other);
  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  ~SecretBytes();

  // `n` bytes from OpenSSL's CSPRNG. Aborts if the CSPRNG fails (nothing safe to do then).
  static SecretBytes Random(size_t n);

  size_t size() const { return bytes_.size(); }
  bool empty() const { return bytes_.empty(); }

  // Constant-time for equal lengths; different lengths compare unequal.
  bool Equals(const SecretBytes& other) const;

  absl::string_view Reveal(InsecureSecretAccess) const {
    return absl::string_view(bytes_.data(), bytes_.size());
  }

 private:
  void Wipe();
  // A vector, not a string: moving it always steals the heap buffer, so no copy of the secret is
  // left behind in a small-string buffer.
  std::vector<char> bytes_;
};

}  // namespace capif

#endif  // CAPIF_COMMON_SECRET_BYTES_H_

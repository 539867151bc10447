// KeyEncryptionKey (KEK): seals secrets that are stored at rest (token-signing private keys,
// AEFPSKs, ...) with AES-256-GCM under a 32-byte key kept in its own file, <data_dir>/kek, beside
// the database. A copy of the database alone (a backup, a stolen disk image of ccf.db) then holds
// no usable secret; the kek file and ccf.db must be backed up together, and losing the kek file
// makes every sealed value unreadable.
//
//   ASSIGN_OR_RETURN(KeyEncryptionKey kek, KeyEncryptionKey::LoadOrCreate(data_dir));
//   ASSIGN_OR_RETURN(std::string sealed, kek.Seal(private_key_pem, "signing_keys/" + kid));
//   ... store `sealed` in the row of `kid` ...
//   ASSIGN_OR_RETURN(SecretBytes pem, kek.Open(sealed, "signing_keys/" + kid));
//
// Sealed form: 0x01 (version) || 12-byte random nonce || ciphertext || 16-byte GCM tag. The
// authenticated data is the version byte followed by `aad`; `aad` names where the value is stored
// (table and row), so a sealed value copied into another row, or a row renamed, does not open.
// Nonces are random: fine for up to 2^32 seals under one KEK, far more than this CCF makes.
//
// The kek file: exactly 32 raw bytes, a regular file (not a symlink) owned by the effective user,
// with no group or other permission bits (0600; 0400 is accepted too). LoadOrCreate creates it
// 0600 from the CSPRNG when it does not exist: written and fsynced under a temporary name, then
// published with link(2), so a concurrent LoadOrCreate (ccfd and capifctl starting together)
// sees either no file or the whole key, and both end with the same key.
//
// Errors: LoadOrCreate: FailedPrecondition when data_dir is not a directory or the kek file is
// unacceptable (the message names the path and the problem, never the bytes), PermissionDenied /
// Internal for I/O failures. Seal: Internal (OpenSSL failure). Open: DataLoss when the value does
// not verify (wrong key, wrong aad, tampered, truncated, unknown version); the message never
// contains key or plaintext bytes.
// Thread-safe: Seal and Open are const and share no mutable state; a KeyEncryptionKey is
// copyable (each copy holds the key in a SecretBytes, wiped on destruction).
#ifndef CAPIF_COMMON_KEY_ENCRYPTION_KEY_H_
#define CAPIF_COMMON_KEY_ENCRYPTION_KEY_H_

#include <cstddef>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/secret_bytes.h"

namespace capif {

class KeyEncryptionKey {
 public:
  static constexpr size_t kKeySize = 32;
  static constexpr char kVersion = 0x01;
  static constexpr size_t kNonceSize = 12;
  static constexpr size_t kTagSize = 16;
  // Bytes a sealed value has beyond its plaintext.
  static constexpr size_t kOverhead = 1 + kNonceSize + kTagSize;

  // Reads <data_dir>/kek, or creates it when absent (see above). `data_dir` must exist.
  static absl::StatusOr<KeyEncryptionKey> LoadOrCreate(const std::string& data_dir);

  // For tests and tools that hold the key already. `key` must be exactly kKeySize bytes; any
  // other size is a programming error and aborts (the message gives the size, not the bytes).
  static KeyEncryptionKey FromBytes(SecretBytes key);

  // Seals `plaintext` for the place named by `aad`.
  absl::StatusOr<std::string> Seal(const SecretBytes& plaintext, absl::string_view aad) const;

  // Opens a value sealed by Seal() with the same key and the same `aad`.
  absl::StatusOr<SecretBytes> Open(absl::string_view sealed, absl::string_view aad) const;

 private:
  explicit KeyEncryptionKey(SecretBytes key) : key_(std::move(key)) {}

  SecretBytes key_;
};

}  // namespace capif

#endif  // CAPIF_COMMON_KEY_ENCRYPTION_KEY_H_

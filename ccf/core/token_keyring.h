// TokenKeyring: this CCF's ES256 token-signing keys, kept in the CCF database.
//
//   ASSIGN_OR_RETURN(KeyEncryptionKey kek, KeyEncryptionKey::LoadOrCreate(data_dir));
//   ASSIGN_OR_RETURN(auto keyring, TokenKeyring::Open(db, kek, clock));
//   keyring->signer()->Sign("at+jwt", claims);
//
// The newest key signs (the last one added when several were added in the same second: creation
// times are in seconds); every key in the database is published in the JWKS, so tokens signed
// before a rotation keep verifying until they expire. Open() creates the first key when there is
// none. Rotate() adds a new key (kid "k-<unix seconds>-<random>") and makes it the signer; keys
// older than `retire_after` (default: 7 days, far longer than any token lifetime) are removed
// from the database and the JWKS on the next Open(), Rotate() or Reload(). Replicas on one
// database share the keys; each reloads them when another rotates (Reload()).
//
// At rest, each private key (PKCS#8 PEM) is sealed with the key-encryption key
// (common/key_encryption_key.h, <data_dir>/kek) under the authenticated data
// "signing_keys/<kid>", in the sealed_key column of signing_keys; the private_key_pem column is
// kept empty. Open() seals the plaintext keys an older ccfd left in private_key_pem and empties
// that column, in one transaction, then checkpoints the WAL so the plaintext is gone from the
// files too (the database zeroes overwritten values). Private keys are never logged.
//
// Errors: DataLoss when a stored key does not open with `kek` (the kek file is not the one the
// keys were sealed with, or the row is corrupted; the message names the kid, and nothing is
// changed); otherwise those of the database.
// Thread-safe.
#ifndef CAPIF_CCF_CORE_TOKEN_KEYRING_H_
#define CAPIF_CCF_CORE_TOKEN_KEYRING_H_

#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/jws.h"
#include "common/key_encryption_key.h"
#include "common/sql_database.h"

namespace capif {

class TokenKeyring {
 public:
  // `db` must have the CCF schema (ccf/sqlite_stores.h). `kek` is copied; `clock` must outlive
  // the keyring.
  static absl::StatusOr<std::unique_ptr<TokenKeyring>> Open(
      std::shared_ptr<SqlDatabase> db, const KeyEncryptionKey& kek, const Clock& clock,
      absl::Duration retire_after = absl::Hours(24 * 7));

  // The signer of new tokens.
  std::shared_ptr<const JwsSigner> signer() const;
  // The public keys that verify this CCF's tokens.
  std::shared_ptr<const JwkSet> jwks() const;

  absl::Status Rotate();
  // Reads the keys from the database again: after another replica on the same database rotated
  // them (ccf/store/change_feed.h tells when).
  absl::Status Reload() { return Load(); }

 private:
  TokenKeyring(std::shared_ptr<SqlDatabase> db, const KeyEncryptionKey& kek, const Clock& clock,
               absl::Duration retire)
      : db_(std::move(db)), kek_(kek), clock_(clock), retire_after_(retire) {}
  // Seals the keys still stored in plaintext by an older version.
  absl::Status SealPlaintextKeys();
  // Serialized (load_mu_), so that a load never replaces the keys a later one read.
  absl::Status Load();

  std::shared_ptr<SqlDatabase> db_;
  const KeyEncryptionKey kek_;
  const Clock& clock_;
  const absl::Duration retire_after_;
  absl::Mutex load_mu_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const JwsSigner> signer_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const JwkSet> jwks_ ABSL_GUARDED_BY(mu_);
};

}  // namespace capif

#endif  // CAPIF_CCF_CORE_TOKEN_KEYRING_H_

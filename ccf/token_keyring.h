// TokenKeyring: this CCF's ES256 token-signing keys, kept in the CCF database.
//
// The newest key signs; every key in the database is published in the JWKS, so tokens signed
// before a rotation keep verifying until they expire. Open() creates the first key when there is
// none. Rotate() adds a new key (kid "k-<unix seconds>-<random>") and makes it the signer; keys
// older than `retire_after` (default: 7 days, far longer than any token lifetime) are removed
// from the database and the JWKS on the next Open() or Rotate().
//
// Private keys are stored as PEM in the database (data_dir is 0700) and never logged.
// Errors: those of the database. Thread-safe.
#ifndef CAPIF_CCF_TOKEN_KEYRING_H_
#define CAPIF_CCF_TOKEN_KEYRING_H_

#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/jws.h"
#include "common/sqlite_database.h"

namespace capif {

class TokenKeyring {
 public:
  static absl::StatusOr<std::unique_ptr<TokenKeyring>> Open(
      std::shared_ptr<SqliteDatabase> db, const Clock& clock,
      absl::Duration retire_after = absl::Hours(24 * 7));

  // The signer of new tokens.
  std::shared_ptr<const JwsSigner> signer() const;
  // The public keys that verify this CCF's tokens.
  std::shared_ptr<const JwkSet> jwks() const;

  absl::Status Rotate();

 private:
  TokenKeyring(std::shared_ptr<SqliteDatabase> db, const Clock& clock, absl::Duration retire)
      : db_(std::move(db)), clock_(clock), retire_after_(retire) {}
  absl::Status Load();

  std::shared_ptr<SqliteDatabase> db_;
  const Clock& clock_;
  const absl::Duration retire_after_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const JwsSigner> signer_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const JwkSet> jwks_ ABSL_GUARDED_BY(mu_);
};

}  // namespace capif

#endif  // CAPIF_CCF_TOKEN_KEYRING_H_

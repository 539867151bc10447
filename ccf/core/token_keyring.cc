#include "ccf/core/token_keyring.h"

#include <openssl/crypto.h>

#include <variant>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace capif {
namespace {

// Where a key is stored, bound into its sealed form: a sealed key moved to another kid's row
// does not open.
std::string AadOf(absl::string_view kid) { return absl::StrCat("signing_keys/", kid); }

absl::StatusOr<SecretBytes> Unseal(const KeyEncryptionKey& kek, const std::string& kid,
                                   const SqlValue& sealed) {
  if (std::holds_alternative<SqlNull>(sealed)) {
    return absl::DataLossError(
        absl::StrCat("token-signing key '", absl::CEscape(kid), "' is not sealed"));
  }
  auto pem = kek.Open(SqlBytes(sealed), AadOf(kid));
  if (!pem.ok()) {
    return absl::DataLossError(absl::StrCat(
        "token-signing key '", absl::CEscape(kid),
        "' does not open with the key-encryption key (data_dir/kek): the kek file is not the one "
        "the key was sealed with (restore it together with ccf.db), or the row is corrupted (",
        pem.status().message(), ")"));
  }
  return pem;
}

// Moves a plaintext column value into a SecretBytes, wiping the query's copy.
SecretBytes TakeSecret(SqlValue& v) {
  std::string* bytes = nullptr;
  if (auto* blob = std::get_if<SqlBlob>(&v)) bytes = &blob->bytes;
  if (auto* text = std::get_if<std::string>(&v)) bytes = text;
  if (bytes == nullptr || bytes->empty()) return SecretBytes();
  SecretBytes out(*bytes);
  OPENSSL_cleanse(&(*bytes)[0], bytes->size());
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TokenKeyring>> TokenKeyring::Open(std::shared_ptr<SqlDatabase> db,
                                                                 const KeyEncryptionKey& kek,
                                                                 const Clock& clock,
                                                                 absl::Duration retire_after) {
  std::unique_ptr<TokenKeyring> k(new TokenKeyring(std::move(db), kek, clock, retire_after));
  RETURN_IF_ERROR(k->SealPlaintextKeys());
  ASSIGN_OR_RETURN(auto rows, k->db_->Query("SELECT COUNT(*) FROM signing_keys"));
  if (SqlInt(rows[0][0]) == 0) {
    RETURN_IF_ERROR(k->Rotate());
  } else {
    RETURN_IF_ERROR(k->Load());
  }
  return k;
}

absl::Status TokenKeyring::SealPlaintextKeys() {
  int sealed_now = 0;
  RETURN_IF_ERROR(db_->Transaction([&](SqlDatabase::Tx& tx) -> absl::Status {
    ASSIGN_OR_RETURN(auto rows,
                     tx.Query("SELECT kid, private_key_pem, sealed_key FROM signing_keys"));
    // Keys sealed already must open with this KEK: otherwise it is the wrong kek file, and the
    // plaintext keys must not be sealed under it either.
    for (const SqlRow& row : rows) {
      if (std::holds_alternative<SqlNull>(row[2])) continue;
      RETURN_IF_ERROR(Unseal(kek_, SqlText(row[0]), row[2]).status());
    }
    for (SqlRow& row : rows) {
      if (!std::holds_alternative<SqlNull>(row[2])) continue;
      std::string kid = SqlText(row[0]);
      SecretBytes pem = TakeSecret(row[1]);
      if (pem.empty()) {
        return absl::DataLossError(
            absl::StrCat("token-signing key '", absl::CEscape(kid), "' has no key"));
      }
      ASSIGN_OR_RETURN(std::string sealed, kek_.Seal(pem, AadOf(kid)));
      RETURN_IF_ERROR(
          tx.Execute("UPDATE signing_keys SET sealed_key = ?, private_key_pem = ? WHERE kid = ?",
                     {SqlBlob{std::move(sealed)}, SqlBlob{}, kid}));
      ++sealed_now;
    }
    return absl::OkStatus();
  }));
  if (sealed_now == 0) return absl::OkStatus();
  LogInfo("keyring", absl::StrCat("sealed ", sealed_now,
                                  " token-signing keys stored in plaintext by an older version"));
  // The overwritten plaintext was zeroed in its page (secure_delete), but older copies may sit
  // in the main file until a checkpoint, and in free space left by keys an older version
  // deleted: rewrite the file without free space, then empty the WAL.
  // (Only SQLite files come from such versions; PostgreSQL databases start sealed.)
  if (db_->dialect() != SqlDatabase::Dialect::kSqlite) return absl::OkStatus();
  absl::Status compact = db_->Execute("VACUUM");
  if (compact.ok()) compact = db_->Execute("PRAGMA wal_checkpoint(TRUNCATE)");
  if (!compact.ok()) {
    LogWarning("keyring", absl::StrCat("could not compact the database after sealing the keys (",
                                       compact.message(),
                                       "); old plaintext copies may remain in its free space "
                                       "until it is vacuumed"));
  }
  return absl::OkStatus();
}

absl::Status TokenKeyring::Rotate() {
  ASSIGN_OR_RETURN(EvpKey key, EvpKey::GenerateEcP256());
  ASSIGN_OR_RETURN(SecretBytes pem, key.PrivateKeyPem());
  int64_t now = absl::ToUnixSeconds(clock_.Now());
  std::string kid = absl::StrCat(
      "k-", now, "-",
      absl::BytesToHexString(SecretBytes::Random(4).Reveal(InsecureSecretAccess())));
  ASSIGN_OR_RETURN(std::string sealed, kek_.Seal(pem, AadOf(kid)));
  RETURN_IF_ERROR(
      db_->Execute("INSERT INTO signing_keys(kid, private_key_pem, sealed_key, created_at) "
                   "VALUES (?, ?, ?, ?)",
                   {kid, SqlBlob{}, SqlBlob{std::move(sealed)}, now}));
  return Load();
}

absl::Status TokenKeyring::Load() {
  absl::MutexLock serialized(&load_mu_);
  int64_t oldest = absl::ToUnixSeconds(clock_.Now() - retire_after_);
  ASSIGN_OR_RETURN(auto rows, db_->Query("SELECT kid, sealed_key, created_at FROM signing_keys "
                                         "ORDER BY created_at DESC, rowid DESC"));
  if (rows.empty()) return absl::InternalError("no token-signing key");
  auto jwks = std::make_shared<JwkSet>();
  std::shared_ptr<const JwsSigner> signer;
  for (const SqlRow& row : rows) {
    // Keep the newest key even if it is old, so there is always a signer.
    if (signer && SqlInt(row[2]) < oldest) continue;
    std::string kid = SqlText(row[0]);
    ASSIGN_OR_RETURN(SecretBytes pem, Unseal(kek_, kid, row[1]));
    ASSIGN_OR_RETURN(EvpKey key, EvpKey::FromPrivateKeyPem(pem));
    RETURN_IF_ERROR(jwks->Add(kid, key));
    if (!signer) {
      ASSIGN_OR_RETURN(JwsSigner s, JwsSigner::Create(std::move(key), kid));
      signer = std::make_shared<const JwsSigner>(std::move(s));
    }
  }
  // Only now that every kept key opened: with a wrong KEK nothing is deleted.
  RETURN_IF_ERROR(db_->Execute(
      "DELETE FROM signing_keys WHERE created_at < ? AND kid <> "
      "(SELECT kid FROM signing_keys ORDER BY created_at DESC, rowid DESC LIMIT 1)",
      {oldest}));
  absl::MutexLock lock(&mu_);
  signer_ = std::move(signer);
  jwks_ = std::move(jwks);
  return absl::OkStatus();
}

std::shared_ptr<const JwsSigner> TokenKeyring::signer() const {
  absl::MutexLock lock(&mu_);
  return signer_;
}

std::shared_ptr<const JwkSet> TokenKeyring::jwks() const {
  absl::MutexLock lock(&mu_);
  return jwks_;
}

}  // namespace capif

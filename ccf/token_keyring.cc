#include "ccf/token_keyring.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace capif {

absl::StatusOr<std::unique_ptr<TokenKeyring>> TokenKeyring::Open(
    std::shared_ptr<SqliteDatabase> db, const Clock& clock, absl::Duration retire_after) {
  std::unique_ptr<TokenKeyring> k(new TokenKeyring(std::move(db), clock, retire_after));
  ASSIGN_OR_RETURN(auto rows, k->db_->Query("SELECT COUNT(*) FROM signing_keys"));
  if (SqlInt(rows[0][0]) == 0) {
    RETURN_IF_ERROR(k->Rotate());
  } else {
    RETURN_IF_ERROR(k->Load());
  }
  return k;
}

absl::Status TokenKeyring::Rotate() {
  ASSIGN_OR_RETURN(EvpKey key, EvpKey::GenerateEcP256());
  ASSIGN_OR_RETURN(SecretBytes pem, key.PrivateKeyPem());
  int64_t now = absl::ToUnixSeconds(clock_.Now());
  std::string kid = absl::StrCat(
      "k-", now, "-",
      absl::BytesToHexString(SecretBytes::Random(4).Reveal(InsecureSecretAccess())));
  RETURN_IF_ERROR(db_->Execute(
      "INSERT INTO signing_keys(kid, private_key_pem, created_at) VALUES (?, ?, ?)",
      {kid, SqlBlob{std::string(pem.Reveal(InsecureSecretAccess()))}, now}));
  return Load();
}

absl::Status TokenKeyring::Load() {
  int64_t oldest = absl::ToUnixSeconds(clock_.Now() - retire_after_);
  // Keep the newest key even if it is old, so there is always a signer.
  RETURN_IF_ERROR(db_->Execute(
      "DELETE FROM signing_keys WHERE created_at < ? AND kid <> "
      "(SELECT kid FROM signing_keys ORDER BY created_at DESC, kid DESC LIMIT 1)",
      {oldest}));
  ASSIGN_OR_RETURN(auto rows, db_->Query("SELECT kid, private_key_pem FROM signing_keys "
                                         "ORDER BY created_at DESC, kid DESC"));
  if (rows.empty()) return absl::InternalError("no token-signing key");
  auto jwks = std::make_shared<JwkSet>();
  std::shared_ptr<const JwsSigner> signer;
  for (const SqlRow& row : rows) {
    std::string kid = SqlText(row[0]);
    ASSIGN_OR_RETURN(EvpKey key, EvpKey::FromPrivateKeyPem(SecretBytes(SqlBytes(row[1]))));
    RETURN_IF_ERROR(jwks->Add(kid, key));
    if (!signer) {
      ASSIGN_OR_RETURN(JwsSigner s, JwsSigner::Create(std::move(key), kid));
      signer = std::make_shared<const JwsSigner>(std::move(s));
    }
  }
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

#include "ccf/core/token_keyring.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "ccf/store/sql_stores.h"
#include "common/evp_key.h"
#include "common/fake_clock.h"
#include "common/file_io.h"
#include "common/jws.h"
#include "common/key_encryption_key.h"
#include "common/sqlite_database.h"
#include "common/testing/test_paths.h"

namespace capif {
namespace {

// The CCF schema before token-signing keys were sealed (what an older ccfd left behind).
constexpr size_t kSchemaWithPlaintextKeys = 6;

std::string Reveal(const SecretBytes& s) { return std::string(s.Reveal(InsecureSecretAccess())); }

// The raw bytes of `path`, empty if it does not exist.
std::string RawFile(const std::string& path) {
  auto bytes = ReadFile(path, size_t{1} << 30);
  return bytes.ok() ? *bytes : "";
}

// The base64 body lines of a PEM block: what would betray the key even without its header.
std::vector<std::string> PemBodyLines(const SecretBytes& pem) {
  std::vector<std::string> out;
  for (absl::string_view line : absl::StrSplit(pem.Reveal(InsecureSecretAccess()), '\n')) {
    if (!line.empty() && line[0] != '-') out.emplace_back(line);
  }
  return out;
}

class TokenKeyringTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TestTmpDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_TRUE(MakeDirectories(dir_, 0700).ok());
  }

  std::shared_ptr<SqlDatabase> Db() {
    auto db = OpenCcfDatabase(dir_);
    EXPECT_TRUE(db.ok()) << db.status();
    return db.ok() ? *db : nullptr;
  }
  KeyEncryptionKey Kek() {
    auto kek = KeyEncryptionKey::LoadOrCreate(dir_);
    EXPECT_TRUE(kek.ok()) << kek.status();
    return kek.ok() ? *std::move(kek) : KeyEncryptionKey::FromBytes(SecretBytes::Random(32));
  }

  // Every place the key could be read from without the KEK: the files of the database.
  void ExpectNotInDatabaseFiles(const std::vector<std::string>& needles) {
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::string raw = RawFile(dir_ + "/ccf.db" + suffix);
      for (const std::string& needle : needles) {
        EXPECT_EQ(raw.find(needle), std::string::npos) << "'" << needle << "' in ccf.db" << suffix;
      }
    }
  }

  std::string SignedToken(const TokenKeyring& keyring) {
    int64_t now = absl::ToUnixSeconds(clock_.Now());
    auto token = keyring.signer()->Sign(
        "at+jwt", {{"iss", "ccf-a"}, {"iat", now}, {"exp", now + 60}});
    EXPECT_TRUE(token.ok()) << token.status();
    return token.ok() ? *token : "";
  }
  absl::Status Verify(const std::string& token, const JwkSet& jwks) {
    JwtValidator validator({"at+jwt", "ccf-a"}, clock_);
    return validator.Verify(token, jwks).status();
  }

  std::string dir_;
  FakeClock clock_;
};

TEST_F(TokenKeyringTest, NoPlaintextPrivateKeyInTheDatabase) {
  auto db = Db();
  auto keyring = TokenKeyring::Open(db, Kek(), clock_);
  ASSERT_TRUE(keyring.ok()) << keyring.status();
  ASSERT_TRUE((*keyring)->Rotate().ok());
  ASSERT_EQ((*keyring)->jwks()->size(), 2u);
  std::vector<std::string> needles = {"PRIVATE KEY"};
  for (const std::string& line : PemBodyLines(*(*keyring)->signer()->key().PrivateKeyPem())) {
    needles.push_back(line);
  }
  auto rows = db->Query("SELECT kid, private_key_pem, sealed_key FROM signing_keys");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 2u);
  for (const SqlRow& row : *rows) {
    EXPECT_EQ(SqlBytes(row[1]), "") << "plaintext column of " << SqlText(row[0]);
    EXPECT_GT(SqlBytes(row[2]).size(), KeyEncryptionKey::kOverhead);
    EXPECT_EQ(SqlBytes(row[2]).find("PRIVATE KEY"), std::string::npos);
  }
  // While the database is open (the rows are in the WAL) and after it is closed (checkpointed).
  ExpectNotInDatabaseFiles(needles);
  keyring->reset();
  db.reset();
  ExpectNotInDatabaseFiles(needles);
}

TEST_F(TokenKeyringTest, KeysSurviveAReopenWithTheSameKek) {
  std::string token, signer_kid;
  {
    auto keyring = TokenKeyring::Open(Db(), Kek(), clock_);
    ASSERT_TRUE(keyring.ok()) << keyring.status();
    ASSERT_TRUE((*keyring)->Rotate().ok());
    signer_kid = (*keyring)->signer()->kid();
    token = SignedToken(**keyring);
  }
  auto reopened = TokenKeyring::Open(Db(), Kek(), clock_);  // the kek file read again
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ((*reopened)->signer()->kid(), signer_kid);
  EXPECT_EQ((*reopened)->jwks()->size(), 2u);
  EXPECT_TRUE(Verify(token, *(*reopened)->jwks()).ok());
}

TEST_F(TokenKeyringTest, ReopeningWithAnotherKekFailsClearlyAndChangesNothing) {
  std::string kid;
  {
    auto keyring = TokenKeyring::Open(Db(), Kek(), clock_);
    ASSERT_TRUE(keyring.ok()) << keyring.status();
    kid = (*keyring)->signer()->kid();
  }
  clock_.Advance(absl::Hours(24 * 30));  // the key is retired, but must not be deleted either
  auto wrong = TokenKeyring::Open(Db(), KeyEncryptionKey::FromBytes(SecretBytes::Random(32)),
                                  clock_);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(wrong.status().message().find(kid), absl::string_view::npos) << wrong.status();
  EXPECT_NE(wrong.status().message().find("key-encryption key"), absl::string_view::npos);
  auto right = TokenKeyring::Open(Db(), Kek(), clock_);
  ASSERT_TRUE(right.ok()) << right.status();
  EXPECT_EQ((*right)->signer()->kid(), kid);
}

TEST_F(TokenKeyringTest, ASealedKeyCopiedToAnotherRowDoesNotOpen) {
  auto db = Db();
  std::string old_kid;
  {
    auto keyring = TokenKeyring::Open(db, Kek(), clock_);
    ASSERT_TRUE(keyring.ok()) << keyring.status();
    old_kid = (*keyring)->signer()->kid();
    clock_.Advance(absl::Seconds(1));
    ASSERT_TRUE((*keyring)->Rotate().ok());
  }
  // Someone with write access to ccf.db (but not the kek) makes the old key the signer's.
  ASSERT_TRUE(db->Execute("UPDATE signing_keys SET sealed_key = "
                          "(SELECT sealed_key FROM signing_keys WHERE kid = ?) WHERE kid <> ?",
                          {old_kid, old_kid})
                  .ok());
  auto keyring = TokenKeyring::Open(db, Kek(), clock_);
  EXPECT_EQ(keyring.status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(TokenKeyringTest, LegacyPlaintextKeysAreSealedAndKeepSigning) {
  auto legacy_key = EvpKey::GenerateEcP256();
  ASSERT_TRUE(legacy_key.ok());
  SecretBytes legacy_pem = *legacy_key->PrivateKeyPem();
  auto retired_pem = *EvpKey::GenerateEcP256()->PrivateKeyPem();
  const std::string kid = "k-1699990000-0badc0de";
  {
    // The database as an older ccfd left it: plaintext PEM, and the plaintext of a key it
    // retired still in the free space of the file (it did not zero deleted values).
    std::vector<std::string> old_schema(CcfSchema().begin(),
                                        CcfSchema().begin() + kSchemaWithPlaintextKeys);
    auto old = SqliteDatabase::Open(dir_ + "/ccf.db", old_schema);
    ASSERT_TRUE(old.ok()) << old.status();
    ASSERT_TRUE((*old)->Execute("PRAGMA secure_delete=OFF").ok());
    int64_t created = absl::ToUnixSeconds(clock_.Now() - absl::Hours(1));
    ASSERT_TRUE((*old)->Execute("INSERT INTO signing_keys(kid, private_key_pem, created_at) "
                                "VALUES (?, ?, ?), (?, ?, ?)",
                                {kid, SqlBlob{Reveal(legacy_pem)}, created,
                                 std::string("k-1-retired"), SqlBlob{Reveal(retired_pem)},
                                 int64_t{1}})
                    .ok());
    ASSERT_TRUE((*old)->Execute("DELETE FROM signing_keys WHERE kid = 'k-1-retired'").ok());
  }
  ASSERT_NE(RawFile(dir_ + "/ccf.db").find("PRIVATE KEY"), std::string::npos)
      << "the test should start from a database with plaintext keys";

  auto db = Db();
  KeyEncryptionKey kek = Kek();
  auto keyring = TokenKeyring::Open(db, kek, clock_);
  ASSERT_TRUE(keyring.ok()) << keyring.status();
  // Same kid, same key: tokens signed before the upgrade still verify, new ones too.
  EXPECT_EQ((*keyring)->signer()->kid(), kid);
  EXPECT_TRUE((*keyring)->signer()->key().PublicKeyEquals(*legacy_key));
  JwkSet legacy_jwks;
  ASSERT_TRUE(legacy_jwks.Add(kid, *legacy_key).ok());
  EXPECT_TRUE(Verify(SignedToken(**keyring), legacy_jwks).ok());

  auto rows = db->Query("SELECT private_key_pem, sealed_key FROM signing_keys WHERE kid = ?",
                        {kid});
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(SqlBytes((*rows)[0][0]), "");
  auto opened = kek.Open(SqlBytes((*rows)[0][1]), "signing_keys/" + kid);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_TRUE(opened->Equals(legacy_pem));

  std::vector<std::string> needles = {"PRIVATE KEY"};
  for (const SecretBytes* pem : {&legacy_pem, &retired_pem}) {
    for (const std::string& line : PemBodyLines(*pem)) needles.push_back(line);
  }
  ExpectNotInDatabaseFiles(needles);

  // A second start finds nothing left to seal and the same key.
  keyring->reset();
  auto again = TokenKeyring::Open(db, kek, clock_);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->signer()->kid(), kid);
}

TEST_F(TokenKeyringTest, RetiredKeysLeaveTheJwks) {
  auto keyring = TokenKeyring::Open(Db(), Kek(), clock_);
  ASSERT_TRUE(keyring.ok()) << keyring.status();
  std::string first = (*keyring)->signer()->kid();
  clock_.Advance(absl::Hours(24 * 8));
  ASSERT_TRUE((*keyring)->Rotate().ok());
  EXPECT_NE((*keyring)->signer()->kid(), first);
  EXPECT_EQ((*keyring)->jwks()->size(), 1u);
  EXPECT_EQ((*keyring)->jwks()->Find(first), nullptr);
}

// The running ccfd rotates on the operator's command (admin API), possibly within the second it
// created its first key: the key just added must sign, now and after a reopen.
TEST_F(TokenKeyringTest, RotationWithinOneSecondSignsWithTheNewKey) {
  auto db = Db();
  auto keyring = TokenKeyring::Open(db, Kek(), clock_);
  ASSERT_TRUE(keyring.ok()) << keyring.status();
  std::vector<std::string> kids = {(*keyring)->signer()->kid()};
  for (int i = 0; i < 8; ++i) {  // random kids: by kid order, some would not be the newest
    ASSERT_TRUE((*keyring)->Rotate().ok());
    std::string signer = (*keyring)->signer()->kid();
    for (const std::string& earlier : kids) EXPECT_NE(signer, earlier) << "rotation " << i;
    kids.push_back(signer);
  }
  EXPECT_EQ((*keyring)->jwks()->size(), kids.size());
  keyring->reset();
  auto reopened = TokenKeyring::Open(db, Kek(), clock_);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ((*reopened)->signer()->kid(), kids.back());
}

TEST_F(TokenKeyringTest, KekFileIsPrivate) {
  auto keyring = TokenKeyring::Open(Db(), Kek(), clock_);
  ASSERT_TRUE(keyring.ok()) << keyring.status();
  for (const char* name : {"kek", "ccf.db", "ccf.db-wal", "ccf.db-shm"}) {
    struct stat st;
    ASSERT_EQ(::stat((dir_ + "/" + name).c_str(), &st), 0) << name;
    EXPECT_EQ(st.st_mode & 07777, 0600u) << name;
  }
}

}  // namespace
}  // namespace capif

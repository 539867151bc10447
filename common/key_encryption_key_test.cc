#include "common/key_encryption_key.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/file_io.h"
#include "common/testing/test_paths.h"

namespace capif {
namespace {

std::string Reveal(const SecretBytes& s) { return std::string(s.Reveal(InsecureSecretAccess())); }

// A fresh directory per test.
std::string DataDir() {
  std::string dir = TestTmpDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
  EXPECT_TRUE(MakeDirectories(dir, 0700).ok());
  return dir;
}

KeyEncryptionKey RandomKek() { return KeyEncryptionKey::FromBytes(SecretBytes::Random(32)); }

SecretBytes Pem() {
  return SecretBytes("-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMG...\n-----END PRIVATE KEY-----\n");
}

std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (struct dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") out.push_back(name);
  }
  ::closedir(d);
  return out;
}

TEST(KeyEncryptionKeyTest, SealOpenRoundTrip) {
  KeyEncryptionKey kek = RandomKek();
  auto sealed = kek.Seal(Pem(), "signing_keys/k-1");
  ASSERT_TRUE(sealed.ok()) << sealed.status();
  EXPECT_EQ(sealed->size(), Pem().size() + KeyEncryptionKey::kOverhead);
  EXPECT_EQ((*sealed)[0], '\x01');
  EXPECT_EQ(sealed->find("PRIVATE KEY"), std::string::npos);
  auto opened = kek.Open(*sealed, "signing_keys/k-1");
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_TRUE(opened->Equals(Pem()));
}

TEST(KeyEncryptionKeyTest, EmptyPlaintextAndEmptyAadRoundTrip) {
  KeyEncryptionKey kek = RandomKek();
  auto sealed = kek.Seal(SecretBytes(), "");
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(sealed->size(), KeyEncryptionKey::kOverhead);
  auto opened = kek.Open(*sealed, "");
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_TRUE(opened->empty());
}

TEST(KeyEncryptionKeyTest, EachSealUsesAFreshNonce) {
  KeyEncryptionKey kek = RandomKek();
  EXPECT_NE(*kek.Seal(Pem(), "a"), *kek.Seal(Pem(), "a"));
}

TEST(KeyEncryptionKeyTest, WrongAadDoesNotOpen) {
  KeyEncryptionKey kek = RandomKek();
  std::string sealed = *kek.Seal(Pem(), "signing_keys/k-1");
  for (const char* other : {"signing_keys/k-2", "signing_keys/k-1 ", "", "aef_psks/k-1"}) {
    auto opened = kek.Open(sealed, other);
    EXPECT_EQ(opened.status().code(), absl::StatusCode::kDataLoss) << other;
  }
}

TEST(KeyEncryptionKeyTest, AnyTamperedByteDoesNotOpen) {
  KeyEncryptionKey kek = RandomKek();
  std::string sealed = *kek.Seal(Pem(), "row");
  for (size_t i = 0; i < sealed.size(); ++i) {
    std::string bad = sealed;
    bad[i] ^= 0x01;
    auto opened = kek.Open(bad, "row");
    EXPECT_EQ(opened.status().code(), absl::StatusCode::kDataLoss) << "byte " << i;
  }
}

TEST(KeyEncryptionKeyTest, TruncatedOrUnknownVersionDoesNotOpen) {
  KeyEncryptionKey kek = RandomKek();
  std::string sealed = *kek.Seal(Pem(), "row");
  EXPECT_EQ(kek.Open(sealed.substr(0, sealed.size() - 1), "row").status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(kek.Open(sealed.substr(0, KeyEncryptionKey::kOverhead - 1), "row").status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(kek.Open("", "row").status().code(), absl::StatusCode::kDataLoss);
  std::string v2 = sealed;
  v2[0] = '\x02';
  auto opened = kek.Open(v2, "row");
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(opened.status().message().find("version"), absl::string_view::npos);
}

TEST(KeyEncryptionKeyTest, WrongKeyDoesNotOpenAndSaysNothingSecret) {
  std::string sealed = *RandomKek().Seal(Pem(), "row");
  auto opened = RandomKek().Open(sealed, "row");
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(opened.status().message().find("PRIVATE"), absl::string_view::npos);
}

TEST(KeyEncryptionKeyTest, FromBytesOfTheWrongSizeAborts) {
  EXPECT_DEATH(KeyEncryptionKey::FromBytes(SecretBytes::Random(16)), "16 bytes");
}

TEST(KeyEncryptionKeyTest, LoadOrCreateCreatesAPrivate32ByteFile) {
  std::string dir = DataDir();
  auto kek = KeyEncryptionKey::LoadOrCreate(dir);
  ASSERT_TRUE(kek.ok()) << kek.status();
  struct stat st;
  ASSERT_EQ(::stat((dir + "/kek").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_size, 32);
  EXPECT_EQ(st.st_uid, ::geteuid());
  // Only the kek file: the temporary it was written under is gone.
  EXPECT_EQ(Entries(dir), std::vector<std::string>{"kek"});
  std::string key = *ReadFile(dir + "/kek");
  EXPECT_EQ(key.size(), 32u);
  EXPECT_TRUE(kek->Open(*kek->Seal(Pem(), "x"), "x").ok());
  EXPECT_TRUE(KeyEncryptionKey::FromBytes(SecretBytes(key)).Open(*kek->Seal(Pem(), "x"), "x").ok());
}

TEST(KeyEncryptionKeyTest, SecondLoadOrCreateReturnsTheSameKey) {
  std::string dir = DataDir();
  auto first = KeyEncryptionKey::LoadOrCreate(dir);
  ASSERT_TRUE(first.ok()) << first.status();
  std::string before = *ReadFile(dir + "/kek");
  auto second = KeyEncryptionKey::LoadOrCreate(dir);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*ReadFile(dir + "/kek"), before);
  auto opened = second->Open(*first->Seal(Pem(), "signing_keys/k-1"), "signing_keys/k-1");
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_TRUE(opened->Equals(Pem()));
}

TEST(KeyEncryptionKeyTest, GroupOrWorldReadableFileIsRefused) {
  std::string dir = DataDir();
  std::string bytes = Reveal(SecretBytes::Random(32));
  ASSERT_TRUE(WriteFileAtomic(dir + "/kek", bytes, 0644).ok());
  auto kek = KeyEncryptionKey::LoadOrCreate(dir);
  EXPECT_EQ(kek.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(kek.status().message().find(dir + "/kek"), absl::string_view::npos);
  EXPECT_NE(kek.status().message().find("0644"), absl::string_view::npos);
  EXPECT_EQ(kek.status().message().find(bytes), absl::string_view::npos);
  // The file is left as it was: tightening is the operator's decision.
  EXPECT_EQ(*ReadFile(dir + "/kek"), bytes);
  ASSERT_TRUE(WriteFileAtomic(dir + "/kek", bytes, 0640).ok());
  EXPECT_EQ(KeyEncryptionKey::LoadOrCreate(dir).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_EQ(::chmod((dir + "/kek").c_str(), 0400), 0);  // stricter than 0600 is fine
  EXPECT_TRUE(KeyEncryptionKey::LoadOrCreate(dir).ok());
}

TEST(KeyEncryptionKeyTest, WrongSizeFileIsRefused) {
  std::string dir = DataDir();
  for (size_t size : {0, 31, 33, 64}) {
    ASSERT_TRUE(WriteFileAtomic(dir + "/kek", std::string(size, 'k'), 0600).ok());
    auto kek = KeyEncryptionKey::LoadOrCreate(dir);
    EXPECT_EQ(kek.status().code(), absl::StatusCode::kFailedPrecondition) << size;
    EXPECT_NE(kek.status().message().find("32 bytes"), absl::string_view::npos);
    EXPECT_EQ(ReadFile(dir + "/kek")->size(), size) << "an existing file is never replaced";
  }
}

TEST(KeyEncryptionKeyTest, SymlinkIsRefused) {
  std::string dir = DataDir();
  ASSERT_TRUE(WriteFileAtomic(dir + "/elsewhere", Reveal(SecretBytes::Random(32)), 0600).ok());
  ASSERT_EQ(::symlink((dir + "/elsewhere").c_str(), (dir + "/kek").c_str()), 0);
  auto kek = KeyEncryptionKey::LoadOrCreate(dir);
  EXPECT_EQ(kek.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(kek.status().message().find("symbolic link"), absl::string_view::npos);
}

TEST(KeyEncryptionKeyTest, DirectoryInPlaceOfTheFileIsRefused) {
  std::string dir = DataDir();
  ASSERT_TRUE(MakeDirectories(dir + "/kek", 0700).ok());
  EXPECT_EQ(KeyEncryptionKey::LoadOrCreate(dir).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(KeyEncryptionKeyTest, MissingDataDirIsRefused) {
  auto kek = KeyEncryptionKey::LoadOrCreate(TestTmpDir("no-such-dir"));
  EXPECT_EQ(kek.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(kek.status().message().find("no-such-dir"), absl::string_view::npos);
}

}  // namespace
}  // namespace capif

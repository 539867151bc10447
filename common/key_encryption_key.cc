#include "common/key_encryption_key.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/file_io.h"
#include "common/openssl_error.h"
#include "common/status_macros.h"

namespace capif {
namespace {

constexpr char kKekFileName[] = "kek";
// Larger inputs are a caller bug; the limit also keeps lengths within OpenSSL's int.
constexpr size_t kMaxInput = size_t{1} << 30;

absl::Status ErrnoStatus(int err, absl::string_view what, absl::string_view path) {
  std::string msg = absl::StrCat(what, " '", path, "': ", std::strerror(err));
  switch (err) {
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(msg);
    default:
      return absl::InternalError(msg);
  }
}

struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;

unsigned char* Bytes(std::string& s) { return reinterpret_cast<unsigned char*>(&s[0]); }
const unsigned char* Bytes(absl::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// Adds the authenticated data: the version byte, then the caller's `aad`.
bool AddAad(EVP_CIPHER_CTX* ctx, absl::string_view aad, bool encrypt) {
  const unsigned char version = static_cast<unsigned char>(KeyEncryptionKey::kVersion);
  int len = 0;
  auto update = encrypt ? EVP_EncryptUpdate : EVP_DecryptUpdate;
  if (update(ctx, nullptr, &len, &version, 1) != 1) return false;
  if (!aad.empty() && update(ctx, nullptr, &len, Bytes(aad), static_cast<int>(aad.size())) != 1) {
    return false;
  }
  return true;
}

// The key in <data_dir>/kek; nullopt when the file does not exist.
absl::StatusOr<std::optional<SecretBytes>> ReadKekFile(const std::string& path) {
  // O_NOFOLLOW: a symlink is refused (ELOOP) rather than followed to a file we did not check;
  // O_NONBLOCK: a FIFO planted there cannot hang us (it is then refused as not a regular file).
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) return std::nullopt;
    if (err == ELOOP) {
      return absl::FailedPreconditionError(
          absl::StrCat("key-encryption key file '", path, "' is a symbolic link; it must be a "
                       "regular file"));
    }
    return ErrnoStatus(err, "cannot open key-encryption key file", path);
  }
  auto close_fd = absl::MakeCleanup([fd] { ::close(fd); });
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoStatus(errno, "cannot stat key-encryption key file", path);
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("key-encryption key file '", path, "' is not a regular file"));
  }
  if (st.st_uid != ::geteuid()) {
    return absl::FailedPreconditionError(
        absl::StrCat("key-encryption key file '", path, "' is owned by uid ", st.st_uid,
                     ", not by this process's user (uid ", ::geteuid(),
                     "); run as the owner of the data directory"));
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return absl::FailedPreconditionError(
        absl::StrCat("key-encryption key file '", path, "' has mode ", mode,
                     "; it must be readable by its owner only (chmod 600 '", path, "')"));
  }
  if (st.st_size != static_cast<off_t>(KeyEncryptionKey::kKeySize)) {
    return absl::FailedPreconditionError(
        absl::StrCat("key-encryption key file '", path, "' is ", st.st_size,
                     " bytes; it must be exactly ", KeyEncryptionKey::kKeySize, " bytes"));
  }
  // One byte more than expected, to notice a file that grew after fstat.
  unsigned char buf[KeyEncryptionKey::kKeySize + 1];
  auto wipe = absl::MakeCleanup([&buf] { OPENSSL_cleanse(buf, sizeof(buf)); });
  size_t got = 0;
  while (got < sizeof(buf)) {
    ssize_t n = ::read(fd, buf + got, sizeof(buf) - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "cannot read key-encryption key file", path);
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  if (got != KeyEncryptionKey::kKeySize) {
    return absl::FailedPreconditionError(
        absl::StrCat("key-encryption key file '", path, "' changed size while being read"));
  }
  return SecretBytes(absl::string_view(reinterpret_cast<const char*>(buf), got));
}

// Creates <data_dir>/kek with a fresh key. AlreadyExists when another process created it first
// (the caller then reads that one).
absl::StatusOr<SecretBytes> CreateKekFile(const std::string& data_dir, const std::string& path) {
  SecretBytes key = SecretBytes::Random(KeyEncryptionKey::kKeySize);
  std::string tmp = absl::StrCat(
      path, ".tmp.", ::getpid(), ".",
      absl::BytesToHexString(SecretBytes::Random(4).Reveal(InsecureSecretAccess())));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return ErrnoStatus(errno, "cannot create key-encryption key file", tmp);
  auto remove_tmp = absl::MakeCleanup([&tmp] { ::unlink(tmp.c_str()); });
  if (::fchmod(fd, 0600) != 0) {  // whatever the umask; it can only have narrowed it, but be exact
    int err = errno;
    ::close(fd);
    return ErrnoStatus(err, "cannot set the mode of", tmp);
  }
  RETURN_IF_ERROR(WriteAllAndClose(fd, key.Reveal(InsecureSecretAccess()), tmp));
  // link(2), unlike rename(2), never replaces an existing file: if another process published its
  // key in the meantime, both of us end up using that one.
  if (::link(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    if (err == EEXIST) return absl::AlreadyExistsError("created concurrently");
    return ErrnoStatus(err, "cannot create key-encryption key file", path);
  }
  std::move(remove_tmp).Invoke();
  // Make the new directory entry durable before anything is sealed with the key.
  int dir_fd = ::open(data_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return ErrnoStatus(errno, "cannot open directory", data_dir);
  int dir_sync_rc = ::fsync(dir_fd);
  int dir_sync_err = errno;
  ::close(dir_fd);
  if (dir_sync_rc != 0) return ErrnoStatus(dir_sync_err, "cannot flush directory", data_dir);
  return key;
}

}  // namespace

absl::StatusOr<KeyEncryptionKey> KeyEncryptionKey::LoadOrCreate(const std::string& data_dir) {
  struct stat st;
  if (data_dir.empty() || ::stat(data_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("data directory '", data_dir, "' does not exist or is not a directory"));
  }
  std::string path = absl::StrCat(data_dir, "/", kKekFileName);
  // Two rounds: if another process creates the file between our read and our create, read its.
  for (int round = 0; round < 2; ++round) {
    auto existing = ReadKekFile(path);
    if (!existing.ok()) return existing.status();
    if (existing->has_value()) return KeyEncryptionKey(**std::move(existing));
    auto created = CreateKekFile(data_dir, path);
    if (created.ok()) return KeyEncryptionKey(*std::move(created));
    if (!absl::IsAlreadyExists(created.status())) return created.status();
  }
  return absl::InternalError(
      absl::StrCat("key-encryption key file '", path, "' appeared and disappeared while opening"));
}

KeyEncryptionKey KeyEncryptionKey::FromBytes(SecretBytes key) {
  if (key.size() != kKeySize) {
    std::fprintf(stderr, "KeyEncryptionKey::FromBytes: the key is %zu bytes, not %zu\n",
                 key.size(), kKeySize);
    std::abort();
  }
  return KeyEncryptionKey(std::move(key));
}

absl::StatusOr<std::string> KeyEncryptionKey::Seal(const SecretBytes& plaintext,
                                                   absl::string_view aad) const {
  if (plaintext.size() > kMaxInput || aad.size() > kMaxInput) {
    return absl::InvalidArgumentError("value to seal is too large");
  }
  absl::string_view pt = plaintext.Reveal(InsecureSecretAccess());
  std::string out(kOverhead + pt.size(), '\0');
  out[0] = kVersion;
  unsigned char* nonce = Bytes(out) + 1;
  unsigned char* ciphertext = nonce + kNonceSize;
  unsigned char* tag = ciphertext + pt.size();
  if (RAND_bytes(nonce, kNonceSize) != 1) return OpenSslError("drawing a nonce");
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return OpenSslError("EVP_CIPHER_CTX_new");
  int len = 0;
  if (EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceSize, nullptr) != 1 ||
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, Bytes(key_.Reveal(InsecureSecretAccess())),
                         nonce) != 1 ||
      !AddAad(ctx.get(), aad, /*encrypt=*/true)) {
    return OpenSslError("starting AES-256-GCM");
  }
  if (!pt.empty()) {
    if (EVP_EncryptUpdate(ctx.get(), ciphertext, &len, Bytes(pt), static_cast<int>(pt.size())) !=
            1 ||
        static_cast<size_t>(len) != pt.size()) {
      return OpenSslError("AES-256-GCM encryption");
    }
  }
  if (EVP_EncryptFinal_ex(ctx.get(), ciphertext + pt.size(), &len) != 1 || len != 0 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize, tag) != 1) {
    return OpenSslError("finishing AES-256-GCM");
  }
  return out;
}

absl::StatusOr<SecretBytes> KeyEncryptionKey::Open(absl::string_view sealed,
                                                   absl::string_view aad) const {
  if (sealed.size() < kOverhead) return absl::DataLossError("sealed value is truncated");
  if (sealed[0] != kVersion) {
    return absl::DataLossError(absl::StrCat("sealed value has unknown version ",
                                            static_cast<unsigned>(static_cast<uint8_t>(sealed[0]))));
  }
  if (sealed.size() - kOverhead > kMaxInput || aad.size() > kMaxInput) {
    return absl::DataLossError("sealed value is too large");
  }
  const unsigned char* nonce = Bytes(sealed) + 1;
  const unsigned char* ciphertext = nonce + kNonceSize;
  size_t ct_size = sealed.size() - kOverhead;
  const unsigned char* tag = ciphertext + ct_size;
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return OpenSslError("EVP_CIPHER_CTX_new");
  if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceSize, nullptr) != 1 ||
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, Bytes(key_.Reveal(InsecureSecretAccess())),
                         nonce) != 1 ||
      !AddAad(ctx.get(), aad, /*encrypt=*/false)) {
    return OpenSslError("starting AES-256-GCM");
  }
  std::string plaintext(ct_size, '\0');
  auto wipe = absl::MakeCleanup([&plaintext] {
    if (!plaintext.empty()) OPENSSL_cleanse(&plaintext[0], plaintext.size());
  });
  int len = 0;
  if (ct_size > 0 &&
      (EVP_DecryptUpdate(ctx.get(), Bytes(plaintext), &len, ciphertext,
                         static_cast<int>(ct_size)) != 1 ||
       static_cast<size_t>(len) != ct_size)) {
    return OpenSslError("AES-256-GCM decryption");
  }
  // The tag is only read, but OpenSSL's ctrl takes a non-const pointer.
  unsigned char tag_copy[kTagSize];
  std::memcpy(tag_copy, tag, kTagSize);
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize, tag_copy) != 1) {
    return OpenSslError("setting the GCM tag");
  }
  unsigned char final_block[16];
  if (EVP_DecryptFinal_ex(ctx.get(), final_block, &len) != 1) {
    ERR_clear_error();
    return absl::DataLossError(
        "sealed value does not verify: it was sealed under another key-encryption key, for "
        "another place, or it is corrupted");
  }
  return SecretBytes(plaintext);
}

}  // namespace capif

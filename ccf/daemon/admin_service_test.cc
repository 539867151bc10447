// The admin server and client in one process, over the real unix socket, on real SQLite stores
// and a real token keyring under TEST_TMPDIR.
#include "ccf/daemon/admin_service.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "ccf/api/invoker_management_api.h"
#include "ccf/core/token_keyring.h"
#include "ccf/daemon/admin_client.h"
#include "ccf/daemon/admin_socket.h"
#include "ccf/store/remote_grants.h"
#include "ccf/store/sql_stores.h"
#include "common/fake_clock.h"
#include "common/key_encryption_key.h"
#include "common/secret_bytes.h"
#include "common/testing/test_paths.h"
#include "gtest/gtest.h"

namespace capif {
namespace {

std::string TestName() {
  return ::testing::UnitTest::GetInstance()->current_test_info()->name();
}

// Leaves a unix socket file at <dir>/admin.sock that nobody listens on, as a killed ccfd does.
void LeaveStaleSocket(const std::string& dir) {
  int dir_fd = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(dir_fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string path = absl::StrCat("/proc/self/fd/", dir_fd, "/admin.sock");
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0) << strerror(errno);
  ::close(fd);
  ::close(dir_fd);
}

class AdminServiceTest : public ::testing::Test {
 protected:
  AdminServiceTest()
      : dir_(TestTmpDir(TestName())),
        db_(*OpenCcfDatabase(dir_)),
        kek_(KeyEncryptionKey::FromBytes(SecretBytes::Random(KeyEncryptionKey::kKeySize))),
        keyring_(*TokenKeyring::Open(db_, kek_, clock_)),
        tokens_(db_),
        outbox_(db_),
        grants_(db_) {}

  AdminServiceConfig Config() {
    AdminServiceConfig c;
    c.ccf_id = "ccf-a";
    c.api_root = "https://127.0.0.1:8441";
    c.schema_version = db_->schema_version();
    c.enrollment_tokens = &tokens_;
    c.keyring = keyring_.get();
    c.outbox = &outbox_;
    c.grants = &grants_;
    c.forget_invoker = [this](const std::string& id) {
      absl::MutexLock lock(&mu_);  // called on the admin server's thread
      forgotten_.push_back(id);
    };
    c.clock = &clock_;
    return c;
  }

  std::unique_ptr<AdminServer> StartServer() {
    auto server = AdminServer::Start(dir_, Config());
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? *std::move(server) : nullptr;
  }

  std::unique_ptr<AdminClient> Client() {
    auto client = AdminClient::Connect(dir_);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  std::string socket_path() const { return dir_ + "/admin.sock"; }

  FakeClock clock_;
  std::string dir_;
  std::shared_ptr<SqlDatabase> db_;
  KeyEncryptionKey kek_;
  std::unique_ptr<TokenKeyring> keyring_;
  SqlEnrollmentTokenStore tokens_;
  SqlNoticeOutbox outbox_;
  SqlRemoteGrants grants_;
  std::vector<std::string> Forgotten() {
    absl::MutexLock lock(&mu_);
    return forgotten_;
  }

  absl::Mutex mu_;
  std::vector<std::string> forgotten_ ABSL_GUARDED_BY(mu_);
};

TEST_F(AdminServiceTest, EnrollmentTokensAreStoredAsDigestsForTheirPurpose) {
  auto server = StartServer();
  auto client = Client();
  ASSERT_TRUE(server && client);
  auto invoker = client->EnrollInvoker(absl::Hours(1));
  ASSERT_TRUE(invoker.ok()) << invoker.status();
  EXPECT_EQ(invoker->token.size(), 43u);  // base64url of 32 bytes
  EXPECT_EQ(invoker->expires_at, clock_.Now() + absl::Hours(1));
  auto provider = client->EnrollProvider(absl::Seconds(60));
  ASSERT_TRUE(provider.ok()) << provider.status();
  EXPECT_NE(provider->token, invoker->token);
  // Only the digest is stored; each token is for its purpose and usable once.
  EXPECT_FALSE(tokens_.Consume(invoker->token, EnrollmentPurpose::kInvoker, clock_.Now()).ok());
  EXPECT_FALSE(tokens_.Consume(EnrollmentTokenDigest(provider->token),
                               EnrollmentPurpose::kInvoker, clock_.Now())
                   .ok());
  EXPECT_TRUE(tokens_.Consume(EnrollmentTokenDigest(invoker->token), EnrollmentPurpose::kInvoker,
                              clock_.Now())
                  .ok());
  EXPECT_FALSE(tokens_.Consume(EnrollmentTokenDigest(invoker->token),
                               EnrollmentPurpose::kInvoker, clock_.Now())
                   .ok());
  EXPECT_TRUE(tokens_.Consume(EnrollmentTokenDigest(provider->token),
                              EnrollmentPurpose::kProvider, clock_.Now())
                  .ok());
  for (absl::Duration bad : {absl::ZeroDuration(), absl::Hours(24 * 7) + absl::Seconds(1)}) {
    auto refused = client->EnrollInvoker(bad);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << refused.status();
  }
}

TEST_F(AdminServiceTest, RotationChangesTheRunningKeyringAtOnce) {
  auto server = StartServer();
  auto client = Client();
  ASSERT_TRUE(server && client);
  std::string old_kid = keyring_->signer()->kid();
  ASSERT_EQ(keyring_->jwks()->size(), 1u);
  auto rotated = client->RotateTokenKey();
  ASSERT_TRUE(rotated.ok()) << rotated.status();
  EXPECT_NE(rotated->kid, old_kid);
  EXPECT_EQ(rotated->published_keys, 2);
  EXPECT_EQ(keyring_->signer()->kid(), rotated->kid);
  EXPECT_EQ(keyring_->jwks()->size(), 2u);
  EXPECT_NE(keyring_->jwks()->Find(old_kid), nullptr);
}

TEST_F(AdminServiceTest, NoticesAreListedWithTheirDeliveryState) {
  auto server = StartServer();
  auto client = Client();
  ASSERT_TRUE(server && client);
  EXPECT_TRUE(client->ListNotices()->empty());
  absl::Time t0 = absl::FromUnixSeconds(1700000000);
  ASSERT_TRUE(outbox_
                  .Enqueue({{"n-1", "ccf-b", kNoticeOffboarding, "payload", t0},
                            {"n-2", "aef-1", kNoticeAefRevoke, "{}", t0 + absl::Seconds(1)}})
                  .ok());
  ASSERT_TRUE(outbox_.Failed("n-1", t0 + absl::Milliseconds(1500), "UNAVAILABLE: down").ok());
  auto notices = client->ListNotices();
  ASSERT_TRUE(notices.ok()) << notices.status();
  ASSERT_EQ(notices->size(), 2u);
  const OutboundNotice& n1 = (*notices)[0];
  EXPECT_EQ(n1.notice_id, "n-1");
  EXPECT_EQ(n1.destination, "ccf-b");
  EXPECT_EQ(n1.kind, kNoticeOffboarding);
  EXPECT_EQ(n1.attempts, 1);
  EXPECT_EQ(n1.next_attempt, t0 + absl::Milliseconds(1500));
  EXPECT_EQ(n1.last_error, "UNAVAILABLE: down");
  EXPECT_EQ(n1.created, t0);
  EXPECT_TRUE(n1.payload.empty());
  EXPECT_EQ((*notices)[1].notice_id, "n-2");
  EXPECT_EQ((*notices)[1].kind, kNoticeAefRevoke);
}

TEST_F(AdminServiceTest, DropGrantsRemovesOneInvokersOrAllAndForgetsThem) {
  auto server = StartServer();
  auto client = Client();
  ASSERT_TRUE(server && client);
  absl::Time t0 = clock_.Now();
  for (const RemoteGrant& g : {RemoteGrant{"ccf-b", "inv-1", "aef-1", "api-1", "PSK", t0, {}},
                               RemoteGrant{"ccf-b", "inv-1", "aef-2", "api-2", "PKI", t0, {}},
                               RemoteGrant{"ccf-c", "inv-3", "aef-1", "api-1", "PSK", t0, {}}}) {
    ASSERT_TRUE(grants_.Put(g).ok());
  }
  EXPECT_EQ(*client->DropGrants("nobody"), 0);
  EXPECT_TRUE(Forgotten().empty());
  EXPECT_EQ(*client->DropGrants("inv-1"), 2);
  EXPECT_EQ(Forgotten(), std::vector<std::string>{"inv-1"});
  EXPECT_TRUE(grants_.OfInvoker("inv-1")->empty());
  EXPECT_EQ(grants_.OfInvoker("inv-3")->size(), 1u);
  EXPECT_EQ(*client->DropGrants(), 1);
  EXPECT_TRUE(grants_.All()->empty());
  EXPECT_EQ(Forgotten(), (std::vector<std::string>{"inv-1", "inv-3"}));
  // As after a restore: no tombstone, no notice.
  EXPECT_FALSE(*grants_.IsOffboarded("ccf-b", "inv-1"));
  EXPECT_TRUE(outbox_.Pending()->empty());
}

TEST_F(AdminServiceTest, StatusNamesTheCcf) {
  auto server = StartServer();
  auto client = Client();
  ASSERT_TRUE(server && client);
  auto status = client->Status();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->ccf_id, "ccf-a");
  EXPECT_EQ(status->api_root, "https://127.0.0.1:8441");
  EXPECT_EQ(status->schema_version, db_->schema_version());
  EXPECT_GT(status->schema_version, 0);
}

TEST_F(AdminServiceTest, SocketIsTheOwnersOnlyAndRemovedAtShutdown) {
  auto server = StartServer();
  ASSERT_TRUE(server);
  EXPECT_EQ(server->socket_path(), socket_path());
  struct stat st;
  ASSERT_EQ(::lstat(socket_path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_uid, ::getuid());
  // A second server on the same data directory is refused, and leaves the first one alone.
  auto second = AdminServer::Start(dir_, Config());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition) << second.status();
  EXPECT_TRUE(Client()->Status().ok());

  server->Shutdown();
  EXPECT_NE(::lstat(socket_path().c_str(), &st), 0);
  server->Shutdown();  // idempotent
  auto none = AdminClient::Connect(dir_);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(none.status().message(),
                                "ccfd is not running (no admin socket at " + socket_path()))
      << none.status();
}

TEST_F(AdminServiceTest, StaleSocketIsReportedAsNotRunningAndReplacedAtStart) {
  LeaveStaleSocket(dir_);
  auto refused = AdminClient::Connect(dir_);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "ccfd is not running"))
      << refused.status();
  auto server = StartServer();
  ASSERT_TRUE(server);
  auto client = Client();
  ASSERT_TRUE(client);
  EXPECT_TRUE(client->Status().ok());
}

TEST_F(AdminServiceTest, AFileThatIsNotASocketIsNeverRemoved) {
  int fd = ::open(socket_path().c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ::close(fd);
  auto server = AdminServer::Start(dir_, Config());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kFailedPrecondition) << server.status();
  EXPECT_EQ(AdminClient::Connect(dir_).status().code(), absl::StatusCode::kFailedPrecondition);
  struct stat st;
  ASSERT_EQ(::lstat(socket_path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
}

TEST(AdminClientTest, NoDataDirectoryMeansNotRunningAndNothingIsCreated) {
  std::string dir = TestTmpDir("never-started");
  auto client = AdminClient::Connect(dir);
  EXPECT_EQ(client.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(client.status().message(),
            "ccfd is not running (no admin socket at " + dir + "/admin.sock); start it first");
  struct stat st;
  EXPECT_NE(::stat(dir.c_str(), &st), 0);
}

}  // namespace
}  // namespace capif

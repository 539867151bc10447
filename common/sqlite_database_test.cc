#include "common/sqlite_database.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "common/testing/test_paths.h"

namespace capif {
namespace {

const std::vector<std::string> kV1 = {"CREATE TABLE kv(k TEXT PRIMARY KEY, v INTEGER NOT NULL)"};
const std::vector<std::string> kV2 = {kV1[0], "ALTER TABLE kv ADD COLUMN note TEXT"};

TEST(SqliteDatabaseTest, MigratesOnceAndKeepsData) {
  std::string path = TestTmpDir("migrate.db");
  {
    auto db = SqliteDatabase::Open(path, kV1);
    ASSERT_TRUE(db.ok()) << db.status();
    EXPECT_EQ((*db)->schema_version(), 1);
    ASSERT_TRUE((*db)->Execute("INSERT INTO kv(k, v) VALUES (?, ?)", {std::string("a"), int64_t{1}}).ok());
  }
  auto db = SqliteDatabase::Open(path, kV2);
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ((*db)->schema_version(), 2);
  ASSERT_TRUE((*db)->Execute("UPDATE kv SET note = ? WHERE k = ?", {std::string("n"), std::string("a")}).ok());
  auto rows = (*db)->Query("SELECT v, note FROM kv WHERE k = ?", {std::string("a")});
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(SqlInt((*rows)[0][0]), 1);
  EXPECT_EQ(SqlText((*rows)[0][1]), "n");
}

TEST(SqliteDatabaseTest, RefusesNewerSchema) {
  std::string path = TestTmpDir("newer.db");
  ASSERT_TRUE(SqliteDatabase::Open(path, kV2).ok());
  EXPECT_EQ(SqliteDatabase::Open(path, kV1).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(SqliteDatabaseTest, ConstraintViolationIsAlreadyExists) {
  auto db = *SqliteDatabase::Open(TestTmpDir("unique.db"), kV1);
  ASSERT_TRUE(db->Execute("INSERT INTO kv VALUES ('x', 1)").ok());
  EXPECT_EQ(db->Execute("INSERT INTO kv VALUES ('x', 2)").code(), absl::StatusCode::kAlreadyExists);
}

TEST(SqliteDatabaseTest, FailedTransactionRollsBack) {
  auto db = *SqliteDatabase::Open(TestTmpDir("tx.db"), kV1);
  absl::Status s = db->Transaction([](SqliteDatabase::Tx& tx) -> absl::Status {
    absl::Status first = tx.Execute("INSERT INTO kv VALUES ('y', 1)");
    if (!first.ok()) return first;
    return absl::AbortedError("changed my mind");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(db->Query("SELECT * FROM kv WHERE k = 'y'")->empty());
  ASSERT_TRUE(db->Transaction([](SqliteDatabase::Tx& tx) {
                  return tx.Execute("INSERT INTO kv VALUES ('z', 1)");
                }).ok());
  EXPECT_EQ(db->Query("SELECT * FROM kv WHERE k = 'z'")->size(), 1u);
}

TEST(SqliteDatabaseTest, BlobsAndNullsRoundTrip) {
  auto db = *SqliteDatabase::Open(
      TestTmpDir("blob.db"), {"CREATE TABLE b(id INTEGER PRIMARY KEY, data BLOB, t TEXT)"});
  std::string bytes("\0\1\2\xff", 4);
  ASSERT_TRUE(db->Execute("INSERT INTO b(data, t) VALUES (?, ?)", {SqlBlob{bytes}, SqlNull{}}).ok());
  auto rows = *db->Query("SELECT data, t FROM b");
  EXPECT_EQ(SqlBytes(rows[0][0]), bytes);
  EXPECT_TRUE(std::holds_alternative<SqlNull>(rows[0][1]));
}

TEST(SqliteDatabaseTest, WrongParameterCountIsAnError) {
  auto db = *SqliteDatabase::Open(TestTmpDir("params.db"), kV1);
  EXPECT_FALSE(db->Execute("INSERT INTO kv VALUES (?, ?)", {std::string("only one")}).ok());
}

// The permission bits of `path`, or -1 if it does not exist.
int ModeOf(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int>(st.st_mode & 07777);
}

void CreateFileWithMode(const std::string& path, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, mode);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::fchmod(fd, mode), 0);
  ::close(fd);
}

TEST(SqliteDatabaseTest, DatabaseWalAndShmAre0600) {
  std::string path = TestTmpDir("private.db");
  mode_t old_umask = ::umask(022);  // the usual one, which would give 0644
  auto db = SqliteDatabase::Open(path, kV1);
  ::umask(old_umask);
  ASSERT_TRUE(db.ok()) << db.status();
  ASSERT_TRUE((*db)->Execute("INSERT INTO kv VALUES ('a', 1)").ok());
  EXPECT_EQ(ModeOf(path), 0600);
  EXPECT_EQ(ModeOf(path + "-wal"), 0600);
  EXPECT_EQ(ModeOf(path + "-shm"), 0600);
}

TEST(SqliteDatabaseTest, LooserModesOfExistingFilesAreTightenedAtOpen) {
  std::string path = TestTmpDir("loose.db");
  {
    auto db = SqliteDatabase::Open(path, kV1);
    ASSERT_TRUE(db.ok()) << db.status();
    ASSERT_TRUE((*db)->Execute("INSERT INTO kv VALUES ('a', 1)").ok());
  }
  // As an older version (or a restore from backup) would have left them; empty -wal and -shm
  // files are what a process killed right after opening leaves.
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  CreateFileWithMode(path + "-wal", 0644);
  CreateFileWithMode(path + "-shm", 0666);
  auto db = SqliteDatabase::Open(path, kV1);
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ(ModeOf(path), 0600);
  EXPECT_EQ(ModeOf(path + "-wal"), 0600);
  EXPECT_EQ(ModeOf(path + "-shm"), 0600);
  auto rows = (*db)->Query("SELECT v FROM kv WHERE k = 'a'");
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->size(), 1u);
  ASSERT_TRUE((*db)->Execute("INSERT INTO kv VALUES ('b', 2)").ok());
  EXPECT_EQ(ModeOf(path + "-wal"), 0600);
}

TEST(SqliteDatabaseTest, NewDatabaseIsNotNarrowedByTheUmask) {
  std::string path = TestTmpDir("umask.db");
  mode_t old_umask = ::umask(0277);
  auto db = SqliteDatabase::Open(path, kV1);
  ::umask(old_umask);
  ASSERT_TRUE(db.ok()) << db.status();
  ASSERT_TRUE((*db)->Execute("INSERT INTO kv VALUES ('a', 1)").ok());
  EXPECT_EQ(ModeOf(path), 0600);
}

TEST(SqliteDatabaseTest, DeletedValuesAreZeroedInTheFile) {
  std::string path = TestTmpDir("secure_delete.db");
  const std::string secret = "SECRET-VALUE-THAT-MUST-GO";
  {
    auto db = SqliteDatabase::Open(path, {"CREATE TABLE s(id INTEGER PRIMARY KEY, v BLOB)"});
    ASSERT_TRUE(db.ok()) << db.status();
    ASSERT_TRUE((*db)->Execute("INSERT INTO s(id, v) VALUES (1, ?)", {SqlBlob{secret}}).ok());
    ASSERT_TRUE((*db)->Execute("INSERT INTO s(id, v) VALUES (2, 'other')").ok());
    ASSERT_TRUE((*db)->Execute("PRAGMA wal_checkpoint(TRUNCATE)").ok());
    ASSERT_TRUE((*db)->Execute("UPDATE s SET v = X'' WHERE id = 1").ok());
    ASSERT_TRUE((*db)->Execute("INSERT INTO s(id, v) VALUES (3, ?)", {SqlBlob{secret + "-3"}}).ok());
    ASSERT_TRUE((*db)->Execute("PRAGMA wal_checkpoint(TRUNCATE)").ok());
    ASSERT_TRUE((*db)->Execute("DELETE FROM s WHERE id = 3").ok());
    ASSERT_TRUE((*db)->Execute("PRAGMA wal_checkpoint(TRUNCATE)").ok());
  }
  auto read = [](const std::string& p) {
    std::string out;
    int fd = ::open(p.c_str(), O_RDONLY);
    if (fd < 0) return out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
    ::close(fd);
    return out;
  };
  EXPECT_EQ(read(path).find(secret), std::string::npos);
  EXPECT_EQ(read(path + "-wal").find(secret), std::string::npos);
}

// Statements are prepared once and reused: a reused one starts unbound and from the first row,
// also after an error or a rolled-back transaction, and sees schema changes.
TEST(SqliteDatabaseTest, ReusedStatementsStartClean) {
  auto db = *SqliteDatabase::Open(TestTmpDir("reuse.db"),
                                  {"CREATE TABLE t(k TEXT PRIMARY KEY, v INTEGER)"});
  const char* kInsert = "INSERT INTO t(k, v) VALUES (?, ?)";
  const char* kSelect = "SELECT k, v FROM t WHERE v >= ? ORDER BY k";
  ASSERT_TRUE(db->Execute(kInsert, {std::string("a"), int64_t{1}}).ok());
  EXPECT_EQ(db->Execute(kInsert, {std::string("a"), int64_t{2}}).code(),
            absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(db->Execute(kInsert, {std::string("b"), int64_t{2}}).ok());
  EXPECT_EQ(db->Execute(kInsert, {std::string("c")}).code(), absl::StatusCode::kInternal);
  EXPECT_EQ(db->Query(kSelect, {int64_t{0}})->size(), 2u);
  EXPECT_EQ(db->Query(kSelect, {int64_t{2}})->size(), 1u);
  EXPECT_FALSE(db->Transaction([&](SqliteDatabase::Tx& tx) {
                   EXPECT_TRUE(tx.Execute(kInsert, {std::string("c"), int64_t{3}}).ok());
                   EXPECT_EQ(tx.Query(kSelect, {int64_t{0}})->size(), 3u);
                   return absl::AbortedError("changed my mind");
                 }).ok());
  auto rows = db->Query(kSelect, {int64_t{0}});
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ(SqlText((*rows)[1][0]), "b");
  ASSERT_TRUE(db->Execute("ALTER TABLE t ADD COLUMN w TEXT").ok());
  EXPECT_EQ(db->Query("SELECT * FROM t WHERE v >= ?", {int64_t{0}})->at(0).size(), 3u);
}

}  // namespace
}  // namespace capif

namespace capif {
namespace {

int64_t CountIn(SqliteDatabase::Tx& tx) {
  auto rows = tx.Query("SELECT COUNT(*) FROM kv");
  return rows.ok() ? SqlInt((*rows)[0][0]) : -1;
}

// Issue 10: reads run on their own connections, so they never wait for a write transaction
// (and its fsync), see only what is committed, and a read transaction is one snapshot.
TEST(SqliteDatabaseTest, ReadsDoNotWaitForAWriteInProgressAndSeeOnlyCommittedRows) {
  auto db = SqliteDatabase::Open(TestTmpDir("readers.db"), kV1);
  ASSERT_TRUE(db.ok()) << db.status();
  SqliteDatabase& d = **db;
  ASSERT_TRUE(d.Execute("INSERT INTO kv(k, v) VALUES ('a', 1)").ok());
  absl::Status s = d.Transaction([&](SqliteDatabase::Tx& tx) -> absl::Status {
    EXPECT_TRUE(tx.Execute("INSERT INTO kv(k, v) VALUES ('b', 2)").ok());
    // With the write lock held (one connection would deadlock here): the committed row only.
    auto rows = d.Query("SELECT COUNT(*) FROM kv");
    EXPECT_TRUE(rows.ok()) << rows.status();
    if (rows.ok()) EXPECT_EQ(SqlInt((*rows)[0][0]), 1);
    absl::Status read = d.ReadTransaction([&](SqliteDatabase::Tx& r) -> absl::Status {
      EXPECT_EQ(CountIn(r), 1);
      return absl::OkStatus();
    });
    EXPECT_TRUE(read.ok()) << read;
    return absl::OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s;
  auto after = d.Query("SELECT COUNT(*) FROM kv");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(SqlInt((*after)[0][0]), 2);  // committed: every reader sees it at once

  // A read transaction keeps its snapshot while a write commits meanwhile.
  s = d.ReadTransaction([&](SqliteDatabase::Tx& r) -> absl::Status {
    EXPECT_EQ(CountIn(r), 2);
    EXPECT_TRUE(d.Execute("INSERT INTO kv(k, v) VALUES ('c', 3)").ok());
    EXPECT_EQ(CountIn(r), 2);
    return absl::OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(SqlInt((*d.Query("SELECT COUNT(*) FROM kv"))[0][0]), 3);

  // Readers are read-only: a write through them fails and changes nothing.
  EXPECT_FALSE(d.Query("INSERT INTO kv(k, v) VALUES ('d', 4)").ok());
  EXPECT_FALSE(d.ReadTransaction([](SqliteDatabase::Tx& r) {
                  return r.Execute("DELETE FROM kv");
                }).ok());
  EXPECT_EQ(SqlInt((*d.Query("SELECT COUNT(*) FROM kv"))[0][0]), 3);
}

TEST(SqliteDatabaseTest, InMemoryDatabasesReadOnTheirOneConnection) {
  auto db = SqliteDatabase::Open(":memory:", kV1);
  ASSERT_TRUE(db.ok()) << db.status();
  ASSERT_TRUE((*db)->Execute("INSERT INTO kv(k, v) VALUES ('a', 1)").ok());
  int64_t n = 0;
  ASSERT_TRUE((*db)->ReadTransaction([&](SqliteDatabase::Tx& r) -> absl::Status {
                  n = CountIn(r);
                  return absl::OkStatus();
                }).ok());
  EXPECT_EQ(n, 1);
}

}  // namespace
}  // namespace capif

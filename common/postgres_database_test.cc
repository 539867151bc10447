#include "common/postgres_database.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/testing/postgres_server.h"

namespace capif {
namespace {

const std::vector<std::string> kV1 = {"CREATE TABLE kv(k TEXT PRIMARY KEY, v BIGINT NOT NULL)"};
const std::vector<std::string> kV2 = {kV1[0], "ALTER TABLE kv ADD COLUMN note TEXT"};

// One server for the binary (initdb takes a second or two); a new database for each test.
class PostgresDatabaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pg = PostgresServer::Shared();
    ASSERT_TRUE(pg.ok()) << pg.status();
    server_ = *pg;
    auto dsn = server_->CreateDatabase();
    ASSERT_TRUE(dsn.ok()) << dsn.status();
    dsn_ = *dsn;
  }
  std::unique_ptr<PostgresDatabase> Open(const std::vector<std::string>& migrations,
                                         int pool_size = 4) {
    PostgresOptions o;
    o.dsn = dsn_;
    o.pool_size = pool_size;
    auto db = PostgresDatabase::Open(o, migrations);
    EXPECT_TRUE(db.ok()) << db.status();
    return db.ok() ? *std::move(db) : nullptr;
  }

  PostgresServer* server_ = nullptr;
  std::string dsn_;
};

TEST(PostgresPlaceholdersTest, NumbersQuestionMarksOutsideQuotes) {
  int n = 0;
  EXPECT_EQ(PostgresDatabase::NumberedPlaceholders(
                "SELECT '?', \"a?\" FROM t WHERE a = ? AND b = 'it''s ?' AND c IN (?, ?)", &n),
            "SELECT '?', \"a?\" FROM t WHERE a = $1 AND b = 'it''s ?' AND c IN ($2, $3)");
  EXPECT_EQ(n, 3);
}

TEST_F(PostgresDatabaseTest, MigratesOnceAndKeepsData) {
  {
    auto db = Open(kV1);
    ASSERT_NE(db, nullptr);
    EXPECT_EQ(db->schema_version(), 1);
    ASSERT_TRUE(
        db->Execute("INSERT INTO kv(k, v) VALUES (?, ?)", {std::string("a"), int64_t{1}}).ok());
  }
  auto db = Open(kV2);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->schema_version(), 2);
  ASSERT_TRUE(
      db->Execute("UPDATE kv SET note = ? WHERE k = ?", {std::string("n"), std::string("a")}).ok());
  auto rows = db->Query("SELECT v, note FROM kv WHERE k = ?", {std::string("a")});
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(SqlInt((*rows)[0][0]), 1);
  EXPECT_EQ(SqlText((*rows)[0][1]), "n");
}

TEST_F(PostgresDatabaseTest, RefusesNewerSchema) {
  ASSERT_NE(Open(kV2), nullptr);
  PostgresOptions o;
  o.dsn = dsn_;
  EXPECT_EQ(PostgresDatabase::Open(o, kV1).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(PostgresDatabaseTest, ReplicasStartingTogetherMigrateOnce) {
  // Two "replicas" open the same empty database at once: the advisory lock lets one migrate;
  // the other finds the schema done (CREATE TABLE twice would fail it).
  std::vector<absl::Status> results(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      PostgresOptions o;
      o.dsn = dsn_;
      o.pool_size = 1;
      results[i] = PostgresDatabase::Open(o, kV2).status();
    });
  }
  for (auto& t : threads) t.join();
  for (const absl::Status& s : results) EXPECT_TRUE(s.ok()) << s;
  auto db = Open(kV2);
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->schema_version(), 2);
}

TEST_F(PostgresDatabaseTest, ConstraintViolationIsAlreadyExists) {
  auto db = Open(kV1);
  ASSERT_TRUE(db->Execute("INSERT INTO kv VALUES ('x', 1)").ok());
  absl::Status dup = db->Execute("INSERT INTO kv VALUES ('x', 2)");
  EXPECT_EQ(dup.code(), absl::StatusCode::kAlreadyExists) << dup;
  EXPECT_NE(dup.message().find("23505"), std::string::npos) << dup;
}

TEST_F(PostgresDatabaseTest, FailedTransactionRollsBack) {
  auto db = Open(kV1);
  absl::Status s = db->Transaction([](SqlDatabase::Tx& tx) -> absl::Status {
    absl::Status first = tx.Execute("INSERT INTO kv VALUES ('y', 1)");
    if (!first.ok()) return first;
    return absl::AbortedError("changed my mind");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(db->Query("SELECT * FROM kv WHERE k = 'y'")->empty());
  ASSERT_TRUE(db->Transaction([](SqlDatabase::Tx& tx) {
                  return tx.Execute("INSERT INTO kv VALUES ('z', 1)");
                }).ok());
  EXPECT_EQ(db->Query("SELECT * FROM kv WHERE k = 'z'")->size(), 1u);
}

TEST_F(PostgresDatabaseTest, BlobsIntegersAndNullsRoundTrip) {
  auto db = Open({"CREATE TABLE b(id BIGINT PRIMARY KEY, data BYTEA, t TEXT, flag BOOLEAN)"});
  std::string bytes("\0\1\2\xff\\x", 6);
  ASSERT_TRUE(db->Execute("INSERT INTO b(id, data, t, flag) VALUES (?, ?, ?, TRUE)",
                          {int64_t{-9007199254740993}, SqlBlob{bytes}, SqlNull{}})
                  .ok());
  auto rows = *db->Query("SELECT id, data, t, flag, COUNT(*) OVER () FROM b");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(SqlInt(rows[0][0]), -9007199254740993);
  ASSERT_TRUE(std::holds_alternative<SqlBlob>(rows[0][1]));
  EXPECT_EQ(SqlBytes(rows[0][1]), bytes);
  EXPECT_TRUE(std::holds_alternative<SqlNull>(rows[0][2]));
  EXPECT_EQ(SqlInt(rows[0][3]), 1);
  EXPECT_EQ(SqlInt(rows[0][4]), 1);
}

TEST_F(PostgresDatabaseTest, TextWithANulIsRefusedNotTruncated) {
  auto db = Open(kV1);
  absl::Status s = db->Execute("INSERT INTO kv VALUES (?, 1)", {std::string("a\0b", 3)});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(db->Query("SELECT * FROM kv")->empty());
}

TEST_F(PostgresDatabaseTest, WrongParameterCountIsAnError) {
  auto db = Open(kV1);
  EXPECT_FALSE(db->Execute("INSERT INTO kv VALUES (?, ?)", {std::string("only one")}).ok());
}

TEST_F(PostgresDatabaseTest, DataErrorsDoNotQuoteTheValue) {
  auto db = Open(kV1);
  absl::Status s = db->Execute("INSERT INTO kv VALUES ('k', ?)", {std::string("secret-123")});
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.message().find("secret-123"), std::string::npos) << s;
}

TEST_F(PostgresDatabaseTest, ChangesCountsTheRowsOfTheLastStatement) {
  auto db = Open(kV1);
  ASSERT_TRUE(db->Execute("INSERT INTO kv VALUES ('a', 1), ('b', 1), ('c', 2)").ok());
  int64_t changed = -1;
  ASSERT_TRUE(db->Transaction([&](SqlDatabase::Tx& tx) -> absl::Status {
                  absl::Status s = tx.Execute("UPDATE kv SET v = 5 WHERE v = ?", {int64_t{1}});
                  changed = tx.changes();
                  return s;
                }).ok());
  EXPECT_EQ(changed, 2);
}

TEST_F(PostgresDatabaseTest, ConcurrentReadModifyWritesAreSerialized) {
  // Each transaction reads the counter and writes it back plus one, on two "replicas" (two
  // pools). Without serializable isolation and the retry of serialization failures, increments
  // are lost or transactions fail.
  auto a = Open(kV1, 4);
  auto b = Open(kV1, 4);
  ASSERT_TRUE(a->Execute("INSERT INTO kv VALUES ('n', 0)").ok());
  constexpr int kThreads = 8;
  constexpr int kEach = 25;
  std::vector<std::thread> threads;
  std::vector<int> failures(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      PostgresDatabase* db = (t % 2 == 0) ? a.get() : b.get();
      for (int i = 0; i < kEach; ++i) {
        absl::Status s = db->Transaction([](SqlDatabase::Tx& tx) -> absl::Status {
          auto rows = tx.Query("SELECT v FROM kv WHERE k = 'n'");
          if (!rows.ok()) return rows.status();
          return tx.Execute("UPDATE kv SET v = ? WHERE k = 'n'", {SqlInt((*rows)[0][0]) + 1});
        });
        if (!s.ok()) {
          ++failures[t];
          ADD_FAILURE() << s;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  int failed = 0;
  for (int f : failures) failed += f;
  auto rows = *a->Query("SELECT v FROM kv WHERE k = 'n'");
  // Every transaction that reported success counted once; none was lost.
  EXPECT_EQ(SqlInt(rows[0][0]), kThreads * kEach - failed);
  EXPECT_EQ(failed, 0) << "transactions failed past the retry bound";
}

TEST_F(PostgresDatabaseTest, ALostConnectionIsUnavailableThenReestablished) {
  auto db = Open(kV1, 1);
  ASSERT_TRUE(db->Execute("INSERT INTO kv VALUES ('a', 1)").ok());
  std::string dbname = dsn_.substr(dsn_.find("dbname=") + 7);
  dbname = dbname.substr(0, dbname.find(' '));
  ASSERT_TRUE(server_
                  ->Run("postgres", absl::StrCat("SELECT pg_terminate_backend(pid) FROM "
                                                 "pg_stat_activity WHERE datname = '",
                                                 dbname, "' AND pid <> pg_backend_pid()"))
                  .ok());
  auto lost = db->Query("SELECT v FROM kv");
  EXPECT_EQ(lost.status().code(), absl::StatusCode::kUnavailable) << lost.status();
  auto again = db->Query("SELECT v FROM kv");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->size(), 1u);
}

TEST_F(PostgresDatabaseTest, ReadTransactionSeesOneSnapshot) {
  auto db = Open(kV1);
  ASSERT_TRUE(db->Execute("INSERT INTO kv VALUES ('a', 1)").ok());
  size_t first = 0, second = 0;
  ASSERT_TRUE(db->ReadTransaction([&](SqlDatabase::Tx& tx) -> absl::Status {
                  first = tx.Query("SELECT * FROM kv")->size();
                  // A write committed meanwhile, on another connection.
                  absl::Status w = db->Execute("INSERT INTO kv VALUES ('b', 2)");
                  if (!w.ok()) return w;
                  second = tx.Query("SELECT * FROM kv")->size();
                  return absl::OkStatus();
                }).ok());
  EXPECT_EQ(first, 1u);
  EXPECT_EQ(second, 1u);
  EXPECT_EQ(db->Query("SELECT * FROM kv")->size(), 2u);
}

}  // namespace
}  // namespace capif

#include "common/sqlite_database.h"

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

}  // namespace
}  // namespace capif

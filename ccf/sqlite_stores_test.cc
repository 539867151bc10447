#include "ccf/sqlite_stores.h"

#include <gtest/gtest.h>

#include "common/testing/test_paths.h"

namespace capif {
namespace {

class SqliteStoresTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = OpenCcfDatabase(TestTmpDir(
        ::testing::UnitTest::GetInstance()->current_test_info()->name()));
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *db;
  }
  std::shared_ptr<SqliteDatabase> db_;
};

TEST_F(SqliteStoresTest, InvokerLifecycle) {
  SqliteInvokerStore store(db_);
  InvokerRecord r{ApiInvokerId("inv-1"), R"({"a":1})", "CERT", std::string("salt\0x", 6), "digest",
                  absl::FromUnixSeconds(1700000000)};
  ASSERT_TRUE(store.Insert(r).ok());
  EXPECT_EQ(store.Insert(r).code(), absl::StatusCode::kAlreadyExists);
  auto got = store.Get(ApiInvokerId("inv-1"));
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->secret_salt, std::string("salt\0x", 6));
  EXPECT_EQ((*got)->created, absl::FromUnixSeconds(1700000000));
  r.enrolment_json = R"({"a":2})";
  ASSERT_TRUE(store.Update(r).ok());
  EXPECT_EQ((*store.Get(ApiInvokerId("inv-1")))->enrolment_json, R"({"a":2})");
  ASSERT_TRUE(store.Delete(ApiInvokerId("inv-1")).ok());
  EXPECT_FALSE(store.Get(ApiInvokerId("inv-1"))->has_value());
  EXPECT_EQ(store.Delete(ApiInvokerId("inv-1")).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store.Update(r).code(), absl::StatusCode::kNotFound);
}

TEST_F(SqliteStoresTest, EnrollmentTokensAreSingleUseAndExpire) {
  SqliteEnrollmentTokenStore tokens(db_);
  absl::Time now = absl::FromUnixSeconds(1700000000);
  ASSERT_TRUE(tokens.Add("t1", now + absl::Minutes(10)).ok());
  ASSERT_TRUE(tokens.Add("t2", now + absl::Minutes(10)).ok());
  EXPECT_TRUE(tokens.Consume("t1", now).ok());
  EXPECT_EQ(tokens.Consume("t1", now).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(tokens.Consume("t2", now + absl::Minutes(10)).code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(tokens.Consume("t2", now).code(), absl::StatusCode::kUnauthenticated);  // removed
  EXPECT_EQ(tokens.Consume("never", now).code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(SqliteStoresTest, DataSurvivesReopening) {
  {
    SqliteInvokerStore store(db_);
    ASSERT_TRUE(store.Insert({ApiInvokerId("inv-9"), "{}", "C", "s", "d", absl::Now()}).ok());
  }
  db_.reset();
  auto db = OpenCcfDatabase(TestTmpDir("DataSurvivesReopening"));
  ASSERT_TRUE(db.ok());
  EXPECT_TRUE(SqliteInvokerStore(*db).Get(ApiInvokerId("inv-9"))->has_value());
}

}  // namespace
}  // namespace capif

#include "tools/capif-scenario/seed.h"

#include <gtest/gtest.h>

#include "ccf/store/security_contexts.h"
#include "ccf/store/sql_stores.h"
#include "common/key_encryption_key.h"
#include "common/testing/test_paths.h"

namespace capif {
namespace {

TEST(SeedCcfStateTest, WritesInvokersAndContextsThroughTheRepositories) {
  std::string dir = TestTmpDir("SeedCcfStateTest");
  ASSERT_TRUE(SeedCcfState(dir, {50, 20}).ok());

  auto db = OpenCcfDatabase(dir);
  ASSERT_TRUE(db.ok()) << db.status();
  SqlInvokerStore invokers(*db);
  auto last = invokers.Get(ApiInvokerId("inv-seed-0000049"));
  ASSERT_TRUE(last.ok() && last->has_value()) << last.status();
  EXPECT_FALSE((*last)->certificate_pem.empty());
  auto absent = invokers.Get(ApiInvokerId("inv-seed-0000050"));
  ASSERT_TRUE(absent.ok());
  EXPECT_FALSE(absent->has_value());

  auto contexts = SqlSecurityContexts::Create(*db, *KeyEncryptionKey::LoadOrCreate(dir));
  ASSERT_TRUE(contexts.ok()) << contexts.status();
  auto ctx = (*contexts)->Get("inv-seed-0000019");
  ASSERT_TRUE(ctx.ok() && ctx->has_value()) << ctx.status();
  ASSERT_EQ((*ctx)->entries.size(), 1u);
  EXPECT_EQ((*ctx)->entries[0].aef_id, "aef-seed-0000019");
  EXPECT_EQ((*ctx)->entries[0].aef_psk.size(), 32u);  // unsealed with the directory's key
  auto none = (*contexts)->Get("inv-seed-0000020");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());

  // Seeding the same directory again collides with what is there.
  EXPECT_EQ(SeedCcfState(dir, {1, 0}).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(SeedCcfState(dir, {1, 2}).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace capif

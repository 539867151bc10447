// The change feed between two "replicas" (two feeds, each on its own database connections) on
// both backends.
#include "ccf/store/change_feed.h"

#include <gtest/gtest.h>

#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "ccf/store/testing/test_storage.h"

namespace capif {
namespace {

class ChangeFeedTest : public ::testing::TestWithParam<StorageBackend> {
 protected:
  void SetUp() override {
    auto storage = NewTestStorage(GetParam());
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = *storage;
  }
  std::unique_ptr<ChangeFeed> OpenFeed(std::vector<std::string>* keys) {
    auto db = storage_.Open();
    EXPECT_TRUE(db.ok()) << db.status();
    if (!db.ok()) return nullptr;
    auto feed = ChangeFeed::Open(*db, storage_.config);
    EXPECT_TRUE(feed.ok()) << feed.status();
    if (!feed.ok()) return nullptr;
    (*feed)->Subscribe(kChangeRemoteInvoker, [this, keys](const std::string& key) {
      absl::MutexLock lock(&mu_);
      keys->push_back(key);
    });
    return *std::move(feed);
  }
  // Waits (bounded) until `keys` has `n` entries.
  bool WaitFor(std::vector<std::string>* keys, size_t n) {
    std::pair<std::vector<std::string>*, size_t> arg(keys, n);
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(
        absl::Condition(
            +[](std::pair<std::vector<std::string>*, size_t>* a) {
              return a->first->size() >= a->second;
            },
            &arg),
        absl::Seconds(20));
  }

  TestStorage storage_;
  absl::Mutex mu_;
  std::vector<std::string> a_keys_ ABSL_GUARDED_BY(mu_), b_keys_ ABSL_GUARDED_BY(mu_);
};

TEST_P(ChangeFeedTest, APublishedChangeReachesThisProcessAtOnceAndTheOtherReplicas) {
  auto a = OpenFeed(&a_keys_);
  auto b = OpenFeed(&b_keys_);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  a->Publish(kChangeRemoteInvoker, "inv-1");
  a->Publish(kChangeTokenKeys, "");  // nobody subscribed: nothing runs
  {
    absl::MutexLock lock(&mu_);
    EXPECT_EQ(a_keys_, std::vector<std::string>{"inv-1"});  // synchronously, on this thread
  }
  if (GetParam() == StorageBackend::kSqlite) {
    // One process per SQLite database: nothing crosses to another feed.
    absl::MutexLock lock(&mu_);
    EXPECT_TRUE(b_keys_.empty());
    return;
  }
  ASSERT_TRUE(WaitFor(&b_keys_, 1)) << "replica b never heard of the change";
  b->Publish(kChangeRemoteInvoker, "inv-2");
  ASSERT_TRUE(WaitFor(&a_keys_, 2));
  absl::MutexLock lock(&mu_);
  EXPECT_EQ(b_keys_, (std::vector<std::string>{"inv-1", "inv-2"}));
  // Each feed ran its own change once (its own NOTIFY coming back is ignored).
  EXPECT_EQ(a_keys_, (std::vector<std::string>{"inv-1", "inv-2"}));
}

INSTANTIATE_TEST_SUITE_P(Backends, ChangeFeedTest, ::testing::ValuesIn(kBackends), BackendName);

}  // namespace
}  // namespace capif

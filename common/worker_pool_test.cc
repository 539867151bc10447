#include "common/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>

#include "absl/synchronization/notification.h"

namespace capif {
namespace {

TEST(WorkerPoolTest, RefusesBeyondThreadsPlusQueueAndRunsThenAfterTheSlotIsFree) {
  WorkerPool pool(1, 1);
  absl::Notification started, release, then_ran, second_ran;
  std::atomic<int> ran{0};
  ASSERT_TRUE(pool.TrySubmit([&] {
    started.Notify();
    release.WaitForNotification();
    ++ran;
    return std::function<void()>([&] { then_ran.Notify(); });
  }));
  started.WaitForNotification();
  ASSERT_TRUE(pool.TrySubmit([&] {  // waits in the queue
    ++ran;
    second_ran.Notify();
    return std::function<void()>();
  }));
  EXPECT_FALSE(pool.TrySubmit([] { return std::function<void()>(); }));  // full
  release.Notify();
  then_ran.WaitForNotification();
  second_ran.WaitForNotification();
  pool.Shutdown();
  EXPECT_EQ(ran.load(), 2);
  EXPECT_FALSE(pool.TrySubmit([] { return std::function<void()>(); }));  // shut down
}

}  // namespace
}  // namespace capif

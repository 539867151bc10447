// WorkerPool: a fixed number of threads running queued jobs; at most threads + max_queued jobs
// are accepted at a time (running or waiting), so a burst is refused instead of queued without
// bound. A job returns what to do once its slot is free again (e.g. send the answer; may be
// empty), so whoever waits for that never finds the slot still taken. Used by the northbound's
// handlers and the bus's handlers that wait on durable writes.
//
//   WorkerPool pool(8, 64);
//   if (!pool.TrySubmit([] { Work(); return std::function<void()>(); })) Refuse();
//
// Jobs must not throw. Thread-safe.
#ifndef CAPIF_COMMON_WORKER_POOL_H_
#define CAPIF_COMMON_WORKER_POOL_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace capif {

class WorkerPool {
 public:
  using Job = std::function<std::function<void()>()>;

  WorkerPool(int threads, size_t max_queued)
      : capacity_(static_cast<size_t>(threads) + max_queued) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
  }
  ~WorkerPool() { Shutdown(); }

  // False when the pool is full or shutting down: the job was not taken.
  bool TrySubmit(Job job) {
    absl::MutexLock lock(&mu_);
    if (stopping_ || queue_.size() + running_ >= capacity_) return false;
    queue_.push_back(std::move(job));
    return true;
  }

  // Waits for running jobs; queued ones are dropped. Idempotent.
  void Shutdown() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
    std::deque<Job> dropped;
    absl::MutexLock lock(&mu_);
    dropped.swap(queue_);
  }

 private:
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); }

  void Run() {
    for (;;) {
      Job job;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(this, &WorkerPool::HasWork));
        if (stopping_) return;
        job = std::move(queue_.front());
        queue_.pop_front();
        ++running_;
      }
      std::function<void()> then = job();  // jobs catch their own exceptions
      {
        absl::MutexLock lock(&mu_);
        --running_;
      }
      if (then) then();
    }
  }

  const size_t capacity_;
  absl::Mutex mu_;
  std::deque<Job> queue_ ABSL_GUARDED_BY(mu_);
  size_t running_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace capif

#endif  // CAPIF_COMMON_WORKER_POOL_H_

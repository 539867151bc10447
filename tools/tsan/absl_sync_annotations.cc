// ThreadSanitizer annotations for Debian's prebuilt Abseil (libabsl-dev), linked into every
// binary of `tools/dev check-tsan` only (never into a normal build).
//
// Why: TSan sees the synchronization of instrumented code and of the libc functions it
// intercepts. Debian's libabsl_synchronization.so is not instrumented, and absl::Mutex locks
// with its own atomics and futexes, so without help TSan sees no happens-before edge between
// two critical sections of one absl::Mutex and reports every ABSL_GUARDED_BY member as a race
// (a two-thread counter under absl::MutexLock is enough). Upstream Abseil annotates itself when
// built with TSan; a prebuilt package cannot be rebuilt here (nothing is downloaded).
//
// How: these definitions interpose on the library's (an executable's symbols come first in the
// dynamic lookup, and the library calls its own Lock/Unlock through the PLT too), call the
// real function found with dlsym(RTLD_NEXT), and tell TSan what it did: a lock acquires the
// mutex's address, an unlock releases it, waits (Await, CondVar::Wait) release then acquire,
// Notification::Notify releases the flag that HasBeenNotified() loads inline and the waits
// acquire it. That is the happens-before a mutex gives; TSan's lock-order (deadlock) checks
// are not fed. Reader locks are treated like writer locks (more ordering than a reader lock
// gives, so a reader that writes under a reader lock is not caught here; -Wthread-safety
// catches writes under a shared lock).
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/base/options.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

extern "C" void __tsan_acquire(void* addr) __attribute__((weak));
extern "C" void __tsan_release(void* addr) __attribute__((weak));

namespace {

#define CAPIF_STR2(x) #x
#define CAPIF_STR(x) CAPIF_STR2(x)

void Acquire(const void* a) {
  if (__tsan_acquire != nullptr) __tsan_acquire(const_cast<void*>(a));
}
void Release(const void* a) {
  if (__tsan_release != nullptr) __tsan_release(const_cast<void*>(a));
}

// The library's own definition of absl::<inline namespace>::<rest>, e.g. "5Mutex4LockEv".
template <typename Fn>
Fn Real(const char* rest) {
  std::string ns = CAPIF_STR(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  std::string name = "_ZN4absl" + std::to_string(ns.size()) + ns + rest;
  if (rest[0] == 'K') name = "_ZNK4absl" + std::to_string(ns.size()) + ns + (rest + 1);
  void* f = dlsym(RTLD_NEXT, name.c_str());
  if (f == nullptr) {
    std::fprintf(stderr, "absl_sync_annotations: %s not found\n", name.c_str());
    std::abort();
  }
  return reinterpret_cast<Fn>(f);
}

// Notification is {Mutex mutex_; std::atomic<bool> notified_yet_;}: the flag's address.
const void* Flag(const absl::Notification* n) {
  static_assert(sizeof(absl::Notification) == 2 * sizeof(absl::Mutex), "Notification layout");
  return reinterpret_cast<const char*>(n) + sizeof(absl::Mutex);
}

// absl evaluates a Condition inside its own code, with the mutex held: a waiter re-checks its
// own when woken (and may wait again without returning), an unlocking thread checks its
// waiters'. Each evaluation is a critical section of its own: acquire before, release after.
struct Guarded {
  const absl::Condition* cond;
  absl::Mutex* mu;
};
bool EvalGuarded(Guarded* g) {
  // Looked up like the rest, so that a binary that never links Abseil links this file too.
  static auto eval = Real<bool (*)(const absl::Condition*)>("K9Condition4EvalEv");
  Acquire(g->mu);
  bool holds = eval(g->cond);
  Release(g->mu);
  return holds;
}

// Abseil's deadlock detector keeps its graph under a SpinLock that is not annotated either;
// deadlock detection is a debug check that TSan's own job does not need.
const bool kNoDeadlockGraph = [] {
  std::string ns = CAPIF_STR(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  std::string name = "_ZN4absl" + std::to_string(ns.size()) + ns +
                     "29SetMutexDeadlockDetectionModeENS0_15OnDeadlockCycleE";
  // Absent from binaries without Abseil's synchronization library: nothing to turn off there.
  if (void* f = dlsym(RTLD_DEFAULT, name.c_str())) {
    reinterpret_cast<void (*)(absl::OnDeadlockCycle)>(f)(absl::OnDeadlockCycle::kIgnore);
  }
  return true;
}();

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

void Mutex::Lock() {
  static auto real = Real<void (*)(Mutex*)>("5Mutex4LockEv");
  real(this);
  Acquire(this);
}
void Mutex::ReaderLock() {
  static auto real = Real<void (*)(Mutex*)>("5Mutex10ReaderLockEv");
  real(this);
  Acquire(this);
}
bool Mutex::TryLock() {
  static auto real = Real<bool (*)(Mutex*)>("5Mutex7TryLockEv");
  bool locked = real(this);
  if (locked) Acquire(this);
  return locked;
}
bool Mutex::ReaderTryLock() {
  static auto real = Real<bool (*)(Mutex*)>("5Mutex13ReaderTryLockEv");
  bool locked = real(this);
  if (locked) Acquire(this);
  return locked;
}
void Mutex::Unlock() {
  static auto real = Real<void (*)(Mutex*)>("5Mutex6UnlockEv");
  Release(this);
  real(this);
}
void Mutex::ReaderUnlock() {
  static auto real = Real<void (*)(Mutex*)>("5Mutex12ReaderUnlockEv");
  Release(this);
  real(this);
}
void Mutex::LockWhen(const Condition& c) {
  static auto real = Real<void (*)(Mutex*, const Condition&)>("5Mutex8LockWhenERKNS0_9ConditionE");
  Guarded g{&c, this};
  real(this, Condition(&EvalGuarded, &g));
  Acquire(this);
}
void Mutex::ReaderLockWhen(const Condition& c) {
  static auto real =
      Real<void (*)(Mutex*, const Condition&)>("5Mutex14ReaderLockWhenERKNS0_9ConditionE");
  Guarded g{&c, this};
  real(this, Condition(&EvalGuarded, &g));
  Acquire(this);
}
// The *WithTimeout / *WithDeadline forms hold the lock on return either way.
bool Mutex::LockWhenWithTimeout(const Condition& c, absl::Duration d) {
  static auto real = Real<bool (*)(Mutex*, const Condition&, absl::Duration)>(
      "5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  Guarded g{&c, this};
  bool met = real(this, Condition(&EvalGuarded, &g), d);
  Acquire(this);
  return met;
}
bool Mutex::LockWhenWithDeadline(const Condition& c, absl::Time t) {
  static auto real = Real<bool (*)(Mutex*, const Condition&, absl::Time)>(
      "5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  Guarded g{&c, this};
  bool met = real(this, Condition(&EvalGuarded, &g), t);
  Acquire(this);
  return met;
}
bool Mutex::ReaderLockWhenWithTimeout(const Condition& c, absl::Duration d) {
  static auto real = Real<bool (*)(Mutex*, const Condition&, absl::Duration)>(
      "5Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  Guarded g{&c, this};
  bool met = real(this, Condition(&EvalGuarded, &g), d);
  Acquire(this);
  return met;
}
bool Mutex::ReaderLockWhenWithDeadline(const Condition& c, absl::Time t) {
  static auto real = Real<bool (*)(Mutex*, const Condition&, absl::Time)>(
      "5Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  Guarded g{&c, this};
  bool met = real(this, Condition(&EvalGuarded, &g), t);
  Acquire(this);
  return met;
}
void Mutex::Await(const Condition& c) {
  static auto real = Real<void (*)(Mutex*, const Condition&)>("5Mutex5AwaitERKNS0_9ConditionE");
  Release(this);
  Guarded g{&c, this};
  real(this, Condition(&EvalGuarded, &g));
  Acquire(this);
}
bool Mutex::AwaitWithTimeout(const Condition& c, absl::Duration d) {
  static auto real = Real<bool (*)(Mutex*, const Condition&, absl::Duration)>(
      "5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  Release(this);
  Guarded g{&c, this};
  bool met = real(this, Condition(&EvalGuarded, &g), d);
  Acquire(this);
  return met;
}
bool Mutex::AwaitWithDeadline(const Condition& c, absl::Time t) {
  static auto real = Real<bool (*)(Mutex*, const Condition&, absl::Time)>(
      "5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  Release(this);
  Guarded g{&c, this};
  bool met = real(this, Condition(&EvalGuarded, &g), t);
  Acquire(this);
  return met;
}

void CondVar::Wait(Mutex* mu) {
  static auto real = Real<void (*)(CondVar*, Mutex*)>("7CondVar4WaitEPNS0_5MutexE");
  Release(mu);
  real(this, mu);
  Acquire(mu);
}
bool CondVar::WaitWithTimeout(Mutex* mu, absl::Duration d) {
  static auto real = Real<bool (*)(CondVar*, Mutex*, absl::Duration)>(
      "7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  Release(mu);
  bool timed_out = real(this, mu, d);
  Acquire(mu);
  return timed_out;
}
bool CondVar::WaitWithDeadline(Mutex* mu, absl::Time t) {
  static auto real = Real<bool (*)(CondVar*, Mutex*, absl::Time)>(
      "7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  Release(mu);
  bool timed_out = real(this, mu, t);
  Acquire(mu);
  return timed_out;
}

void Notification::Notify() {
  static auto real = Real<void (*)(Notification*)>("12Notification6NotifyEv");
  Release(Flag(this));
  real(this);
}
void Notification::WaitForNotification() const {
  static auto real = Real<void (*)(const Notification*)>("K12Notification19WaitForNotificationEv");
  real(this);
  Acquire(Flag(this));
}
bool Notification::WaitForNotificationWithTimeout(absl::Duration d) const {
  static auto real = Real<bool (*)(const Notification*, absl::Duration)>(
      "K12Notification30WaitForNotificationWithTimeoutENS0_8DurationE");
  bool notified = real(this, d);
  if (notified) Acquire(Flag(this));
  return notified;
}
bool Notification::WaitForNotificationWithDeadline(absl::Time t) const {
  static auto real = Real<bool (*)(const Notification*, absl::Time)>(
      "K12Notification31WaitForNotificationWithDeadlineENS0_4TimeE");
  bool notified = real(this, t);
  if (notified) Acquire(Flag(this));
  return notified;
}

ABSL_NAMESPACE_END
}  // namespace absl

// Mutex, MutexLock and CondVar: std::mutex and std::condition_variable with clang's thread-safety
// annotations, so that `-Wthread-safety` (on in every clang build) checks at compile time that each
// GUARDED_BY field is touched only with its mutex held and that REQUIRES/EXCLUDES contracts hold.
// The same idea as LevelDB's port::Mutex and Abseil's absl::Mutex; gcc ignores the attributes.
//
// The lock order of the whole library is written down in docs/architecture.md ("Locks"); a mutex
// that must be taken after another says so with ACQUIRED_AFTER where clang can check it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <shared_mutex>

#if defined(__clang__)
#define LIBCHAT_TSA(x) __attribute__((x))
#else
#define LIBCHAT_TSA(x)
#endif

#define CAPABILITY(x) LIBCHAT_TSA(capability(x))
#define SCOPED_CAPABILITY LIBCHAT_TSA(scoped_lockable)
#define GUARDED_BY(x) LIBCHAT_TSA(guarded_by(x))
#define PT_GUARDED_BY(x) LIBCHAT_TSA(pt_guarded_by(x))
#define ACQUIRED_AFTER(...) LIBCHAT_TSA(acquired_after(__VA_ARGS__))
#define ACQUIRED_BEFORE(...) LIBCHAT_TSA(acquired_before(__VA_ARGS__))
#define REQUIRES(...) LIBCHAT_TSA(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) LIBCHAT_TSA(requires_shared_capability(__VA_ARGS__))
#define ACQUIRE(...) LIBCHAT_TSA(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) LIBCHAT_TSA(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...) LIBCHAT_TSA(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) LIBCHAT_TSA(release_shared_capability(__VA_ARGS__))
#define RELEASE_GENERIC(...) LIBCHAT_TSA(release_generic_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) LIBCHAT_TSA(try_acquire_capability(__VA_ARGS__))
#define EXCLUDES(...) LIBCHAT_TSA(locks_excluded(__VA_ARGS__))
#define ASSERT_CAPABILITY(x) LIBCHAT_TSA(assert_capability(x))
#define NO_THREAD_SAFETY_ANALYSIS LIBCHAT_TSA(no_thread_safety_analysis)

namespace chat::detail {

class CondVar;

// A mutex the analysis knows about. Not recursive.
class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  bool TryLock() TRY_ACQUIRE(true) { return mu_.try_lock(); }
  // BasicLockable, for std::unique_lock where a lock is taken on some paths only.
  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }
  // Tells the analysis the caller holds the lock (where it cannot see it, e.g. in a callback
  // documented to run under it).
  void AssertHeld() ASSERT_CAPABILITY(this) {}

 private:
  friend class CondVar;
  std::mutex mu_;
};

// Holds a Mutex for its scope.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() RELEASE() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// A reader/writer mutex: many readers or one writer.
class CAPABILITY("mutex") SharedMutex {
 public:
  SharedMutex() = default;
  SharedMutex(const SharedMutex&) = delete;
  SharedMutex& operator=(const SharedMutex&) = delete;

  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }
  void LockShared() ACQUIRE_SHARED() { mu_.lock_shared(); }
  void UnlockShared() RELEASE_SHARED() { mu_.unlock_shared(); }

 private:
  std::shared_mutex mu_;
};

class SCOPED_CAPABILITY WriterLock {
 public:
  explicit WriterLock(SharedMutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~WriterLock() RELEASE() { mu_->Unlock(); }
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

 private:
  SharedMutex* const mu_;
};

class SCOPED_CAPABILITY ReaderLock {
 public:
  explicit ReaderLock(SharedMutex* mu) ACQUIRE_SHARED(mu) : mu_(mu) { mu_->LockShared(); }
  ~ReaderLock() RELEASE() { mu_->UnlockShared(); }
  ReaderLock(const ReaderLock&) = delete;
  ReaderLock& operator=(const ReaderLock&) = delete;

 private:
  SharedMutex* const mu_;
};

// A condition variable used with a Mutex the caller holds around Wait (absl::CondVar's shape: the
// mutex is named at each wait, so the analysis can check it is held).
class CondVar {
 public:
  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  // Releases `mu`, waits for a signal (or a spurious wake-up), and takes it again.
  void Wait(Mutex* mu) REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();
  }
  // As Wait, for at most `ms` milliseconds.
  void WaitFor(Mutex* mu, std::int64_t ms) REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    cv_.wait_for(lock, std::chrono::milliseconds(ms));
    lock.release();
  }
  // As Wait, until `deadline` at the latest. False if it returned because the deadline passed.
  bool WaitUntil(Mutex* mu, std::chrono::steady_clock::time_point deadline) REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    const bool signalled = cv_.wait_until(lock, deadline) == std::cv_status::no_timeout;
    lock.release();
    return signalled;
  }
  void Signal() { cv_.notify_one(); }
  void SignalAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace chat::detail

// Gate and GatedStore: hold one store call at the point a race needs, so that a test of the race is
// deterministic (the test opens the gate once it has done what must happen in between).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "libchat/store_wrapper.h"

namespace chat::test {

// A one-shot gate: the first caller of Pass() (after Arm) stops there until Open(); the test waits for
// it with WaitArrived(). Later callers pass.
class Gate {
 public:
  void Arm() {
    std::lock_guard lock(mu_);
    armed_ = true;
    arrived_ = open_ = false;
  }
  void Pass() {
    std::unique_lock lock(mu_);
    if (!armed_) return;
    armed_ = false;
    arrived_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
  }
  bool WaitArrived(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return arrived_; });
  }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool armed_ = false, arrived_ = false, open_ = false;
};

// A store whose chosen calls stop at a gate before (or, for lookups, after) the real work.
class GatedStore : public StoreWrapper {
 public:
  using StoreWrapper::StoreWrapper;
  Gate append, add_device, update_device, remove_device, find_token;
  // The next `n` GetDevice calls fail with Unavailable (a store that stopped answering for a moment).
  std::atomic<int> fail_get_device{0};

  Result<Device> GetDevice(DeviceId id) override {
    for (int n = fail_get_device.load(); n > 0;) {
      if (fail_get_device.compare_exchange_weak(n, n - 1)) return Status::Unavailable("injected: the store does not answer");
    }
    return StoreWrapper::GetDevice(id);
  }

  void AppendAsync(Message draft, CommitObserver observer, AppendDone done, AppendAdmission admit) override {
    append.Pass();
    StoreWrapper::AppendAsync(std::move(draft), std::move(observer), std::move(done), std::move(admit));
  }
  Result<Device> AddDevice(Device device, std::size_t max_devices, std::string_view verified) override {
    add_device.Pass();
    return StoreWrapper::AddDevice(std::move(device), max_devices, verified);
  }
  Status UpdateDevice(DeviceId id, const std::function<Status(Device*)>& edit) override {
    update_device.Pass();
    return StoreWrapper::UpdateDevice(id, edit);
  }
  Status RemoveDevice(DeviceId id) override {
    remove_device.Pass();
    return StoreWrapper::RemoveDevice(id);
  }
  Result<Device> FindDeviceByTokenHash(std::string_view hash) override {
    auto found = StoreWrapper::FindDeviceByTokenHash(hash);
    find_token.Pass();
    return found;
  }
};

}  // namespace chat::test

// AddressSlots: open connections counted per source IP address, so that one host cannot take all of
// max_connections (ServerOptions::max_connections_per_address). A connection holds its address's
// slot from accept until its last session object (HTTP, then WebSocket) is gone. Without a limit
// nothing is counted: every connection holds the same shared slot, which costs it no memory.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace chat::detail {

class AddressSlots : public std::enable_shared_from_this<AddressSlots> {
 public:
  // A held slot: released when the last copy of the shared_ptr goes away.
  class Slot {
   public:
    Slot(std::shared_ptr<AddressSlots> owner, std::string address)
        : owner_(std::move(owner)), address_(std::move(address)) {}
    ~Slot() {
      if (owner_ != nullptr) owner_->Release(address_);
    }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;

   private:
    std::shared_ptr<AddressSlots> owner_;
    std::string address_;
  };

  // `limit` connections per address; 0: no limit (and nothing counted).
  explicit AddressSlots(std::size_t limit)
      : limit_(limit), unlimited_(limit == 0 ? std::make_shared<Slot>(nullptr, std::string()) : nullptr) {}

  // A slot for one more connection from `address`, or null if it already has `limit`. Thread-safe.
  std::shared_ptr<Slot> TryAcquire(const std::string& address) {
    // No limit: one slot shared by every connection (a per-connection one was 80 bytes of heap).
    if (unlimited_ != nullptr) return unlimited_;
    {
      std::lock_guard<std::mutex> lock(mu_);
      std::size_t& open = open_[address];
      if (limit_ != 0 && open >= limit_) return nullptr;
      ++open;
    }
    return std::make_shared<Slot>(shared_from_this(), address);
  }

  // Connections open from `address` now (0 without a limit: not counted). Thread-safe.
  std::size_t Open(const std::string& address) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = open_.find(address);
    return it == open_.end() ? 0 : it->second;
  }

 private:
  void Release(const std::string& address) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = open_.find(address);
    if (it == open_.end()) return;
    // Forget addresses with nothing open: the map stays as small as the set of connected hosts.
    if (--it->second == 0) open_.erase(it);
  }

  const std::size_t limit_;
  const std::shared_ptr<Slot> unlimited_;  // Handed to every connection when limit_ is 0.
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::size_t> open_;  // GUARDED_BY(mu_)
};

using AddressSlot = std::shared_ptr<AddressSlots::Slot>;

}  // namespace chat::detail

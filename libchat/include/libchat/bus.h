// Bus: carries events to the sessions that are live for their recipients. In one process the
// built-in inproc:// bus calls every subscriber directly; a multi-node bus carries the same events
// between nodes, so that session code never knows where a recipient is connected.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "libchat/types.h"

namespace chat {

enum class EventType : std::uint8_t {
  kMessage = 0,         // message: a new entry in the chat (kMembership entries included).
  kMessageDeleted = 1,  // message: the kDeletion entry (its ref_seq names the deleted one).
  kChatUpdate = 2,      // message: the kMembership entry; the chat's name, roles or members changed.
  kReceipt = 3,         // user, delivered, read.
  kPresence = 4,        // user, payload: {"online":bool,"last_seen":ms|null}.
  kTyping = 5,          // user, device, payload: {"typing":bool}.
  kSignal = 6,          // payload: a call-signalling event, already in wire form.
  kSessionRevoked = 7,  // user, device (0: all of the user's): those live sessions must close, except
                        // any authenticated with keep_token_hash (the device's new token).
};

struct Event {
  EventType type = EventType::kMessage;
  ChatId chat = 0;
  // Users whose live devices receive the event.
  std::vector<UserId> recipients;
  // Not delivered to this device (e.g. typing is not echoed to the typist). 0: none.
  DeviceId exclude_device = 0;
  // Delivered only to this device, if set (e.g. a revoked session).
  DeviceId only_device = 0;
  std::shared_ptr<const Message> message;
  UserId user = 0;
  DeviceId device = 0;
  Seq delivered = 0;
  Seq read = 0;
  std::string payload;
  // kSessionRevoked: sessions of the device authenticated with this token hash stay open.
  std::string keep_token_hash;
};

// Cancels a subscription when destroyed. Movable.
class Subscription {
 public:
  Subscription() = default;
  explicit Subscription(std::function<void()> cancel) : cancel_(std::move(cancel)) {}
  Subscription(Subscription&& o) noexcept : cancel_(std::move(o.cancel_)) { o.cancel_ = nullptr; }
  Subscription& operator=(Subscription&& o) noexcept {
    if (this != &o) { Reset(); cancel_ = std::move(o.cancel_); o.cancel_ = nullptr; }
    return *this;
  }
  ~Subscription() { Reset(); }
  void Reset() { if (cancel_) { auto c = std::move(cancel_); cancel_ = nullptr; c(); } }

 private:
  std::function<void()> cancel_;
};

class Bus {
 public:
  using Handler = std::function<void(const std::shared_ptr<const Event>&)>;
  Bus() = default;
  Bus(const Bus&) = delete;
  Bus& operator=(const Bus&) = delete;
  virtual ~Bus() = default;
  // Delivers `event` to every subscriber (on every node). Events published from one thread reach each
  // subscriber in the order published. Never blocks on a subscriber. Thread-safe.
  virtual void Publish(std::shared_ptr<const Event> event) = 0;
  // Handler runs on the publisher's or the bus's thread; it must not block (post work elsewhere).
  // After the Subscription is destroyed, the handler is no longer called and no call is in progress.
  virtual Subscription Subscribe(Handler handler) = 0;
};

// The in-process bus (inproc://): Publish calls each handler before returning.
std::unique_ptr<Bus> NewInProcBus();

}  // namespace chat

// PushSender: notifies devices that have no live session. Implementations talk to a gateway (webhook,
// FCM, APNs); the built-in log:// sender records notifications in memory and in the log.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "libchat/status.h"
#include "libchat/types.h"

namespace chat {

struct PushNotification {
  UserId user = 0;
  DeviceId device = 0;
  std::string provider;  // Device::push_provider
  std::string token;     // Device::push_token
  ChatId chat = 0;
  std::string chat_name;
  Seq last_seq = 0;
  int count = 1;         // Messages this notification stands for (bursts coalesce).
  std::string preview;   // Message text, only when the operator enables previews.
  UserId sender = 0;     // Who wrote the last message, or who is calling.
  bool call = false;     // A ringing call: high priority, never coalesced.
  std::string call_id;   // The call this notification rings for (call only).
  // Wall-clock time after which the notification is worthless (a call stops ringing); senders pass
  // it to the provider as the message's expiry. 0: the provider's default.
  TimeMs expires_at = 0;
};

class PushSender {
 public:
  using Done = std::function<void(const Status&)>;
  PushSender() = default;
  PushSender(const PushSender&) = delete;
  PushSender& operator=(const PushSender&) = delete;
  virtual ~PushSender() = default;
  // Sends one notification and calls `done` exactly once, on any thread. A retryable status asks the
  // caller to retry later; NotFound means the provider reported the token invalid.
  virtual void Send(const PushNotification& notification, Done done) = 0;
};

// Records every notification (thread-safe) and reports success: the log:// sender.
class RecordingPushSender final : public PushSender {
 public:
  void Send(const PushNotification& notification, Done done) override;
  std::vector<PushNotification> Sent() const;

 private:
  struct State;
  std::shared_ptr<State> state_ = MakeState();
  static std::shared_ptr<State> MakeState();
};

}  // namespace chat

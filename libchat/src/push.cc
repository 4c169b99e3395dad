#include <mutex>

#include "libchat/push.h"

namespace chat {

struct RecordingPushSender::State {
  mutable std::mutex mu;
  std::vector<PushNotification> sent;
};

std::shared_ptr<RecordingPushSender::State> RecordingPushSender::MakeState() {
  return std::make_shared<State>();
}

void RecordingPushSender::Send(const PushNotification& notification, Done done) {
  {
    std::lock_guard lock(state_->mu);
    state_->sent.push_back(notification);
  }
  done(Status::Ok());
}

std::vector<PushNotification> RecordingPushSender::Sent() const {
  std::lock_guard lock(state_->mu);
  return state_->sent;
}

}  // namespace chat

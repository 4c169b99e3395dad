
#include "libchat/push.h"
#include "mutex.h"

namespace chat {

struct RecordingPushSender::State {
  mutable detail::Mutex mu;
  std::vector<PushNotification> sent GUARDED_BY(mu);
};

std::shared_ptr<RecordingPushSender::State> RecordingPushSender::MakeState() {
  return std::make_shared<State>();
}

void RecordingPushSender::Send(const PushNotification& notification, Done done) {
  {
    detail::MutexLock lock(&state_->mu);
    state_->sent.push_back(notification);
  }
  done(Status::Ok());
}

std::vector<PushNotification> RecordingPushSender::Sent() const {
  detail::MutexLock lock(&state_->mu);
  return state_->sent;
}

}  // namespace chat

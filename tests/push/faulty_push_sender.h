// Fault injection for the dispatcher's unit tests (after LevelDB's SpecialEnv): answers the first
// `failures` sends with `status` itself and forwards the rest to the wrapped sender.
#pragma once

#include <atomic>
#include <memory>

#include "libchat/push.h"

namespace chat::test {

class FaultyPushSender final : public PushSender {
 public:
  FaultyPushSender(std::shared_ptr<PushSender> target, int failures, Status status)
      : target_(std::move(target)), failures_(failures), status_(std::move(status)) {}

  void Send(const PushNotification& n, Done done) override {
    ++attempts_;
    if (failures_.fetch_sub(1) > 0) return done(status_);
    target_->Send(n, std::move(done));
  }
  int attempts() const { return attempts_.load(); }

 private:
  std::shared_ptr<PushSender> target_;
  std::atomic<int> failures_;
  Status status_;
  std::atomic<int> attempts_{0};
};

}  // namespace chat::test

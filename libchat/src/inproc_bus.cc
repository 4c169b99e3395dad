// The in-process bus: Publish calls every subscriber on the publisher's thread. Handlers are
// required not to block, so publishing stays cheap; subscribing and cancelling are rare.
#include <atomic>
#include <map>

#include "libchat/bus.h"
#include "mutex.h"

namespace chat {
namespace {

class InProcBus final : public Bus, public std::enable_shared_from_this<InProcBus> {
 public:
  void Publish(std::shared_ptr<const Event> event) override {
    // Shared lock: publishers run concurrently; a Subscription's cancel waits for them to finish,
    // which is what guarantees no call is in progress once it returns.
    detail::ReaderLock lock(&state_->mu);
    for (const auto& [id, handler] : state_->handlers) handler(event);
  }

  Subscription Subscribe(Handler handler) override {
    detail::WriterLock lock(&state_->mu);
    std::uint64_t id = state_->next_id++;
    state_->handlers.emplace(id, std::move(handler));
    std::weak_ptr<State> weak = state_;
    return Subscription([weak, id] {
      if (auto s = weak.lock()) {
        detail::WriterLock l(&s->mu);
        s->handlers.erase(id);
      }
    });
  }

 private:
  struct State {
    detail::SharedMutex mu;
    std::uint64_t next_id GUARDED_BY(mu) = 1;
    std::map<std::uint64_t, Handler> handlers GUARDED_BY(mu);
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

}  // namespace

std::unique_ptr<Bus> NewInProcBus() { return std::make_unique<InProcBus>(); }

}  // namespace chat

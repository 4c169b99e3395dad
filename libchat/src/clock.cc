#include "libchat/clock.h"

#include <chrono>

namespace chat {
namespace {

class RealClock final : public Clock {
 public:
  TimeMs NowMs() const override {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  }
};

}  // namespace

Clock* SystemClock() {
  static RealClock clock;
  return &clock;
}

}  // namespace chat

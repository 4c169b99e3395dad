#include <atomic>

#include "test_support.h"

using namespace chat;

TEST_CASE("the in-process bus delivers to every subscriber until unsubscribed", "[unit][bus]") {
  auto bus = NewInProcBus();
  std::atomic<int> a{0}, b{0};
  auto sa = bus->Subscribe([&](const std::shared_ptr<const Event>&) { ++a; });
  {
    auto sb = bus->Subscribe([&](const std::shared_ptr<const Event>&) { ++b; });
    bus->Publish(std::make_shared<Event>());
  }
  bus->Publish(std::make_shared<Event>());
  CHECK(a == 2);
  CHECK(b == 1);
  sa.Reset();
  bus->Publish(std::make_shared<Event>());
  CHECK(a == 2);
}

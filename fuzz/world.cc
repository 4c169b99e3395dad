#include "world.h"

#include <cstdio>
#include <cstdlib>

namespace chat::fuzz {

void Check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz harness set-up failed: %s\n", what);
  std::abort();
}

std::unique_ptr<World> MakeWorld() {
  auto w = std::make_unique<World>();
  auto store = MakeKvStore(NewMemKvEngine());
  Check(store.ok(), "open the memory store");
  w->store = std::move(*store);
  w->bus = NewInProcBus();
  w->blobs = NewMemBlobStore();
  ServiceOptions options;
  options.password_cost = PasswordCost::kMinimum;
  // A fuzzer sends far faster than people do; limits would turn most inputs away before the code
  // under test. Quotas stay on: they are part of what is exercised.
  options.enforce_rate_limits = false;
  options.login_throttle.enabled = false;
  auto service = ChatService::Create(options, w->store, w->bus, w->blobs);
  Check(service.ok(), "create the service");
  w->service = std::move(*service);

  for (const char* name : {"alice", "bob"}) {
    NewAccount account;
    account.username = name;
    account.password = std::string("password-") + name;
    Check(w->service->Register(account).ok(), "register");
  }
  auto alice = w->service->Login("alice", "password-alice", {"phone", "fuzz"});
  auto bob = w->service->Login("bob", "password-bob", {"phone", "fuzz"});
  Check(alice.ok() && bob.ok(), "log in");
  w->alice = *alice;
  w->bob = *bob;
  auto group = w->service->CreateGroup(w->alice.user.id, "fuzz", {w->bob.user.id});
  Check(group.ok(), "create the group");
  w->group = group->id;
  SendRequest hello;
  hello.sender = w->alice.user.id;
  hello.device = w->alice.device.id;
  hello.chat = w->group;
  hello.client_id = "seed";
  hello.body = "hello";
  Check(w->service->Send(hello).ok(), "send the first message");
  return w;
}

}  // namespace chat::fuzz

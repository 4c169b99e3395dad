// A ChatService with spam scoring on, for the spam tests (unit: mem://; contract: LevelDB restart).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "test_support.h"

namespace chat::test {

// A service with spam scoring on (defaults) and rate limits off, over the fixture's store.
struct SpamWorld {
  explicit SpamWorld(const std::string& backend = "mem") : fx(backend) { Start(); }

  // Over `store` when given (a wrapper of fx.store), else over fx.store.
  void Start(std::shared_ptr<Store> store = nullptr) {
    ServiceOptions opts;
    opts.clock = &fx.clock;
    opts.password_cost = PasswordCost::kMinimum;
    opts.enforce_rate_limits = false;
    auto s = ChatService::Create(opts, store ? store : fx.store, fx.bus, fx.blobs);
    REQUIRE_OK(s);
    service = std::move(*s);
  }

  // Old enough not to be a new account.
  Session OldUser(const std::string& name) {
    Session s = fx.NewUser(name);
    return s;
  }

  ChatId Group(const Session& owner, const std::vector<UserId>& members) {
    auto c = service->CreateGroup(owner.user.id, "g", members);
    REQUIRE_OK(c);
    return c->id;
  }

  Result<AppendResult> Send(const Session& from, ChatId chat, const std::string& body) {
    SendRequest r = test::TextMessage(from, chat, "c" + std::to_string(++next_client_id), body);
    return service->Send(r);
  }

  Fixture fx;
  std::unique_ptr<ChatService> service;
  int next_client_id = 0;
};

}  // namespace chat::test

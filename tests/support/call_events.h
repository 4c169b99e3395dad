// Call signalling as a test device sees it (docs/protocol.md, "Calls"): commands with JSON
// arguments, and waits for the call events and the call entry of one call. For the tests of a real
// chatd, on one node (tests/integration) or several (tests/nats).
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "chatd_process.h"

namespace chat::test {

inline const std::string kOffer = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
inline const std::string kAnswer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";

inline Reply Cmd(Client& c, const std::string& cmd, const nlohmann::json& args) { return c.Call(cmd, args.dump()); }

// The result of a command that must succeed. REQUIREs success.
inline nlohmann::json ResultOf(const Reply& r) {
  INFO(r.raw);
  REQUIRE(r.ok);
  return nlohmann::json::parse(r.result);
}

// The next event `name` of call `call_id` on `c`.
inline std::optional<nlohmann::json> WaitForCallEvent(Client& c, const std::string& name, const std::string& call_id,
                                                      std::chrono::milliseconds timeout = kWait) {
  auto e = c.WaitForEvent(
      [&](const ClientEvent& ev) {
        return ev.name == name && nlohmann::json::parse(ev.data).value("callId", "") == call_id;
      },
      timeout);
  if (!e) return std::nullopt;
  return nlohmann::json::parse(e->data);
}

// The call entry `call_id` left in `chat`, as the newMessage event `c` receives.
inline std::optional<nlohmann::json> WaitForCallEntry(Client& c, ChatId chat, const std::string& call_id,
                                                      std::chrono::milliseconds timeout = kWait) {
  auto e = c.WaitForEvent(
      [&](const ClientEvent& ev) {
        return ev.name == "newMessage" && ev.chat == chat && ev.entry && ev.entry->kind == MessageKind::kCall &&
               nlohmann::json::parse(ev.entry->body).value("callId", "") == call_id;
      },
      timeout);
  if (!e) return std::nullopt;
  return nlohmann::json::parse(e->entry->body);
}

}  // namespace chat::test

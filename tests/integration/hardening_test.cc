// chatd against hostile input and hostile connections (docs/security.md, "Input limits"): deep JSON,
// bad ids, text that is too long or not UTF-8, silent and half-finished connections, and one host
// opening too many connections. Each time the offender gets a typed error or is closed, nothing
// changes, and the others keep being served.
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "test_server.h"

namespace chat::test {
namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// `depth` nested arrays around 1: Nested(2) is [[1]].
std::string Nested(int depth) { return std::string(static_cast<std::size_t>(depth), '[') + "1" + std::string(static_cast<std::size_t>(depth), ']'); }

TEST_CASE("JSON nested deeper than 32 levels gets bad_request and the connection keeps serving",
          "[integration][hardening]") {
  TestServer s;
  auto ws = RawAfterHello(s.port());

  // Request object (1) + "pad" array levels: 32 in all is allowed, 33 is not.
  const Json fits = Json::parse(ws->Call(R"({"id":"a","cmd":"ping","pad":)" + Nested(31) + "}"));
  CHECK(fits.at("ok") == true);
  const Json deep = Json::parse(ws->Call(R"({"id":"b","cmd":"ping","pad":)" + Nested(32) + "}"));
  INFO(deep.dump());
  CHECK(deep.at("ok") == false);
  CHECK(deep.at("error").at("code") == "bad_request");
  CHECK(deep.at("error").at("message").get<std::string>().find("nested deeper than 32") != std::string::npos);
  // Refused before parsing: the id is not read from such a frame.
  CHECK(deep.at("id").is_null());
  // Half a megabyte of '[' costs nothing either.
  const Json huge = Json::parse(ws->Call(std::string(100000, '[')));
  CHECK(huge.at("error").at("code") == "bad_request");
  // Brackets inside strings are text, not nesting.
  const Json text = Json::parse(ws->Call(R"({"id":"c","cmd":"ping","pad":")" + std::string(100, '[') + "\"}"));
  CHECK(text.at("ok") == true);
  // The same connection still works.
  CHECK(Json::parse(ws->Call(R"({"id":"d","cmd":"ping"})")).at("ok") == true);
}

TEST_CASE("ids that are 0, negative, fractional, huge or strings are refused with a typed error",
          "[integration][hardening]") {
  TestServer s;
  RegisterUser(s.chatd(), "alice");
  const UserId bob = RegisterUser(s.chatd(), "bob");
  LiveDevice a = LoginDevice(s.chatd(), "alice", "a");
  auto chat = a.client->CreateGroup("ids", {bob});
  REQUIRE_OK(chat);
  auto first = a.client->SendMessage(chat->id, "m1", "hello");
  REQUIRE_OK(first);

  struct Case {
    const char* what;
    std::string chat_id;  // JSON text of the chatId field.
    const char* code;
  };
  const std::vector<Case> cases = {
      {"zero", "0", "permission_denied"},  // No chat has id 0: the same answer as any chat you are not in.
      {"negative", "-5", "bad_request"},
      {"fractional", "1.5", "bad_request"},
      {"exponent", "1e3", "bad_request"},
      {"above 2^64", "18446744073709551616", "bad_request"},
      {"2^64-1", "18446744073709551615", "permission_denied"},
      {"string", "\"" + std::to_string(chat->id) + "\"", "bad_request"},
      {"boolean", "true", "bad_request"},
      {"object", "{}", "bad_request"},
  };
  auto ws = RawAfterHello(s.port());
  const Json login = Json::parse(
      ws->Call(R"({"id":"l","cmd":"resume","token":")" + a.session.token + "\"}"));
  REQUIRE(login.at("ok") == true);
  for (const Case& c : cases) {
    INFO("chatId " << c.what << ": " << c.chat_id);
    for (const std::string& cmd :
         {std::string(R"("cmd":"history")"), std::string(R"("cmd":"deleteMessage","seq":1)"),
          std::string(R"("cmd":"sendMessage","clientId":"x","body":"hi")"),
          std::string(R"("cmd":"modifyParticipants","remove":[)" + std::to_string(bob) + "]")}) {
      INFO(cmd);
      const Json r = Json::parse(ws->Call(R"({"id":"x",)" + cmd + R"(,"chatId":)" + c.chat_id + "}"));
      CHECK(r.at("ok") == false);
      CHECK(r.at("error").at("code") == c.code);
    }
  }
  // Nothing changed: the chat has its two entries and both members.
  auto view = a.client->GetChat(chat->id);
  REQUIRE_OK(view);
  CHECK(view->head == first->message.seq);
  CHECK(view->participants.size() == 2);
}

TEST_CASE("text that is too long or not UTF-8 is refused in every stored field and changes nothing",
          "[integration][hardening]") {
  TestServer s;
  RegisterUser(s.chatd(), "alice");
  LiveDevice a = LoginDevice(s.chatd(), "alice", "a");
  auto chat = a.client->CreateGroup("text", {});
  REQUIRE_OK(chat);
  auto before = a.client->GetChat(chat->id);
  REQUIRE_OK(before);
  auto ws = RawAfterHello(s.port());
  REQUIRE(Json::parse(ws->Call(R"({"id":"l","cmd":"resume","token":")" + a.session.token + "\"}")).at("ok") == true);
  const std::string chat_id = std::to_string(chat->id);
  auto longer = [](std::size_t n) { return "\"" + std::string(n, 'a') + "\""; };
  // Invalid UTF-8 never reaches a handler: the JSON parser refuses a lone surrogate escape (and
  // WebSocket refuses raw invalid bytes in a text frame, see below); what remains is length.
  const std::string surrogate = R"("\ud800")";

  struct Case {
    const char* what;
    std::string frame;
    const char* code = "invalid_argument";
  };
  const std::vector<Case> cases = {
      {"username too long", R"({"id":"x","cmd":"register","password":"password-1","username":)" + longer(33) + "}"},
      {"display name too long",
       R"({"id":"x","cmd":"register","username":"zed","password":"password-1","displayName":)" + longer(65) + "}"},
      {"display name a lone surrogate",
       R"({"id":"x","cmd":"register","username":"zed","password":"password-1","displayName":)" + surrogate + "}",
       "bad_request"},
      {"avatar URL too long", R"({"id":"x","cmd":"register","username":"zed","password":"password-1","avatarUrl":)" +
                                   longer(1025) + "}"},
      {"chat name too long", R"({"id":"x","cmd":"createChat","kind":"group","name":)" + longer(129) + "}"},
      {"empty chat name", R"({"id":"x","cmd":"createChat","kind":"group","name":""})"},
      {"metadata too long",
       R"({"id":"x","cmd":"createChat","kind":"group","name":"n","metadata":)" + longer(4097) + "}"},
      {"rename too long", R"({"id":"x","cmd":"updateChat","chatId":)" + chat_id + R"(,"name":)" + longer(129) + "}"},
      {"metadata update too long",
       R"({"id":"x","cmd":"updateChat","chatId":)" + chat_id + R"(,"metadata":)" + longer(4097) + "}"},
      {"body too long",
       R"({"id":"x","cmd":"sendMessage","chatId":)" + chat_id + R"(,"clientId":"c2","body":)" + longer(65537) + "}"},
      {"client id too long", R"({"id":"x","cmd":"sendMessage","chatId":)" + chat_id + R"(,"body":"b","clientId":)" +
                                 longer(65) + "}"},
      {"body a lone surrogate",
       R"({"id":"x","cmd":"sendMessage","chatId":)" + chat_id + R"(,"clientId":"c1","body":)" + surrogate + "}",
       "bad_request"},
  };
  // register is for connections that are not signed in.
  auto anon = RawAfterHello(s.port());
  for (const Case& c : cases) {
    INFO(c.what);
    const bool registers = c.frame.find(R"("cmd":"register")") != std::string::npos;
    const Json r = Json::parse((registers ? anon : ws)->Call(c.frame));
    CHECK(r.at("ok") == false);
    CHECK(r.at("error").at("code") == c.code);
  }
  // Nothing was created or changed.
  auto chats = a.client->ListChats();
  REQUIRE_OK(chats);
  REQUIRE(chats->size() == 1);
  CHECK((*chats)[0].chat.name == "text");
  CHECK((*chats)[0].head == before->head);
  CHECK(a.client->LookupUser("zed").status().code() == StatusCode::kNotFound);

  // Raw invalid UTF-8 in a text frame breaks RFC 6455: the connection is closed with 1007, and
  // the others are not.
  ws->SendText(R"({"id":"x","cmd":"sendMessage","chatId":)" + chat_id + R"(,"clientId":"c3","body":")" +
               std::string("\xff\xfe") + "\"}");
  RawWebSocket::Frame close = ws->Read();
  while (close.opcode == 9) close = ws->Read();
  REQUIRE(close.opcode == 8);
  REQUIRE(close.payload.size() >= 2);
  CHECK(((static_cast<unsigned char>(close.payload[0]) << 8) | static_cast<unsigned char>(close.payload[1])) == 1007);
  CHECK(a.client->Ping().ok());
  auto after = a.client->GetChat(chat->id);
  REQUIRE_OK(after);
  CHECK(after->head == before->head);
}

TEST_CASE("a client that connects and sends nothing, or half a request, is closed at the handshake timeout",
          "[integration][hardening]") {
  // 1 s, not less: the signed-in client's own handshake must fit in it on a loaded 2-core CI machine.
  TestServer s({"--handshake-timeout-ms", "1000"});
  RegisterUser(s.chatd(), "alice");
  LiveDevice a = LoginDevice(s.chatd(), "alice", "a");

  const auto start = Clock::now();
  RawTcp silent(s.port());
  RawTcp half(s.port());
  half.Send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n");  // No blank line: the header never ends.
  RawTcp half_upgrade(s.port());
  half_upgrade.Send("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n");
  CHECK(silent.WaitForEnd());
  CHECK(half.WaitForEnd());
  CHECK(half_upgrade.WaitForEnd());
  // Closed by the timeout, not at once.
  CHECK(Clock::now() - start >= std::chrono::milliseconds(900));
  // The signed-in client, idle all this time but past its handshake, is still served.
  CHECK(a.client->Ping().ok());
  CHECK(HttpGet(s.port(), "/healthz").rfind("200", 0) == 0);
}

TEST_CASE("a WebSocket that sends nothing after the upgrade is closed at the idle timeout, and a live one stays",
          "[integration][hardening]") {
  TestServer s({"--idle-timeout-ms", "600"});
  RegisterUser(s.chatd(), "alice");
  LiveDevice a = LoginDevice(s.chatd(), "alice", "a");  // chat::Client answers the server's pings.

  const auto start = Clock::now();
  RawWebSocket mute(s.port());  // Upgraded, then silent: it never answers the ping.
  CHECK(mute.WaitForEnd());
  const auto lasted = Clock::now() - start;
  CHECK(lasted >= std::chrono::milliseconds(500));
  CHECK(lasted < std::chrono::milliseconds(4000));
  // The answering client outlived two idle timeouts and still works.
  CHECK(a.client->Ping().ok());
}

TEST_CASE("connections beyond --max-connections-per-address are closed at accept, counted, and others stay",
          "[integration][hardening]") {
  TestServer s({"--max-connections-per-address", "3"});
  std::vector<std::unique_ptr<RawWebSocket>> held;
  for (int i = 0; i < 3; ++i) held.push_back(RawAfterHello(s.port()));

  // The fourth from 127.0.0.1 is accepted by the kernel and closed by chatd without a byte.
  const auto start = Clock::now();
  RawTcp fourth(s.port());
  fourth.Send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  CHECK(fourth.WaitForEnd(std::chrono::milliseconds(2000)));
  CHECK(Clock::now() - start < std::chrono::milliseconds(2000));

  // The three keep being served.
  for (auto& ws : held) CHECK(Json::parse(ws->Call(R"({"id":"p","cmd":"ping"})")).at("ok") == true);

  // Closing one frees its slot once chatd has seen the close; each HTTP request below takes the slot
  // and gives it back when its connection ends, which chatd may notice a moment after the client.
  held.pop_back();
  auto metric = [&s](const std::string& name) {
    double v = -1;
    for (const auto deadline = Clock::now() + kWait; v < 0 && Clock::now() < deadline;) {
      v = MetricValue(s.port(), name);  // -1 while refused.
      if (v < 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return v;
  };
  CHECK(metric("chat_connections_refused_per_address_total") >= 1);
  CHECK(metric("chat_connections_refused_total") == 0);
  CHECK(metric("chat_connections_accepted_total") >= 4);
}

}  // namespace
}  // namespace chat::test

namespace chat::test {
namespace {

TEST_CASE("a Transfer-Encoding that does not end in chunked is answered 400 and the connection closed",
          "[integration][hardening]") {
  TestServer s;
  // Read as "no body", the body would be taken for a second request: a smuggled GET /metrics here.
  const std::string smuggled = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  for (const std::string coding : {"gzip", "chunked, gzip", "identity"}) {
    RawTcp c(s.port());
    c.Send("POST /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: " + coding + "\r\n\r\n" + smuggled);
    const std::string answer = c.ReadAll();
    INFO(coding << ":\n" << answer);
    CHECK(answer.rfind("HTTP/1.1 400", 0) == 0);
    CHECK(answer.find("chat_requests_total") == std::string::npos);  // The smuggled request was not served.
    CHECK(c.WaitForEnd());
  }
  // The same on the attachment routes, which read their own bodies.
  RawTcp put(s.port());
  put.Send("PUT /v1/attachments/abc HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip\r\n\r\n" + smuggled);
  CHECK(put.ReadAll().rfind("HTTP/1.1 400", 0) == 0);
  // A chunked body is still fine, and chatd keeps serving.
  CHECK(HttpGet(s.port(), "/healthz") == "200\nok\n");
}

}  // namespace
}  // namespace chat::test

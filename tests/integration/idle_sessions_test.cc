// Idle WebSocket sessions on a real chatd (issue 17): between requests a plain-TCP session waits for
// the socket to become readable instead of holding a read and its buffer (ws_session.h), and its
// deadlines are on its lane's timer wheel. What must still hold: events reach every idle session,
// pings are answered (the pongs are dropped without a read), requests sent back to back in one write
// are each answered, and an idle session that answers nothing is closed at the idle timeout.
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

// chat_ws_reading_sessions reaches `want` (sessions finish their last request asynchronously).
bool ReadingSessionsReach(std::uint16_t port, double want) {
  for (const auto deadline = Clock::now() + kWait; Clock::now() < deadline;) {
    if (MetricValue(port, "chat_ws_reading_sessions") == want) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

TEST_CASE("idle sessions hold no read, and still get every event and stay connected through the idle pings",
          "[integration][idle]") {
  TestServer s({"--idle-timeout-ms", "600"});
  constexpr int kUsers = 6;
  constexpr int kDevicesPerUser = 3;
  std::vector<UserId> members;
  for (int u = 0; u < kUsers; ++u) members.push_back(RegisterUser(s.chatd(), "user" + std::to_string(u)));
  std::vector<LiveDevice> devices;
  for (int u = 0; u < kUsers; ++u) {
    for (int d = 0; d < kDevicesPerUser; ++d) {
      devices.push_back(LoginDevice(s.chatd(), "user" + std::to_string(u), "d" + std::to_string(d)));
    }
  }
  auto group = devices[0].client->CreateGroup("idle", std::vector<UserId>(members.begin() + 1, members.end()));
  REQUIRE_OK(group);
  CHECK(MetricValue(s.port(), "chat_devices_online") == kUsers * kDevicesPerUser);
  // Every session is between requests: none holds a read.
  CHECK(ReadingSessionsReach(s.port(), 0));

  auto broadcast = [&](const std::string& client_id) {
    auto sent = devices[0].client->SendMessage(group->id, client_id, "to everyone: " + client_id);
    REQUIRE_OK(sent);
    for (LiveDevice& d : devices) {
      auto e = WaitForMessage(*d.client, group->id, sent->message.seq);
      REQUIRE(e);
      CHECK(e->entry->client_id == client_id);
    }
  };
  broadcast("first");
  CHECK(ReadingSessionsReach(s.port(), 0));

  // Two idle timeouts with nothing sent: every session is pinged and answers with a pong, which the
  // server takes as input without starting a read; none is closed.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  CHECK(MetricValue(s.port(), "chat_devices_online") == kUsers * kDevicesPerUser);
  CHECK(ReadingSessionsReach(s.port(), 0));
  broadcast("second");
  for (LiveDevice& d : devices) CHECK(d.client->Ping().ok());
  CHECK(ReadingSessionsReach(s.port(), 0));
}

TEST_CASE("requests sent back to back in one write are each answered in order, pongs and pings among them",
          "[integration][idle]") {
  TestServer s;
  RawWebSocket ws(s.port());
  // A hello, three pings, an unsolicited pong and a ping frame, all in one write: the server reads
  // the first request from the socket, the others from what Beast already holds.
  std::string burst = RawWebSocket::MaskedFrame(1, R"({"id":1,"cmd":"hello","version":1})");
  burst += RawWebSocket::MaskedFrame(1, R"({"id":2,"cmd":"ping"})");
  burst += RawWebSocket::MaskedFrame(10, "unsolicited");
  burst += RawWebSocket::MaskedFrame(1, R"({"id":3,"cmd":"ping"})");
  burst += RawWebSocket::MaskedFrame(9, "are you there");
  burst += RawWebSocket::MaskedFrame(1, R"({"id":4,"cmd":"ping"})");
  ws.SendRaw(burst);
  int next_id = 1;
  bool ponged = false;
  while (next_id <= 4) {
    RawWebSocket::Frame f = ws.Read();
    REQUIRE(f.opcode != -1);
    if (f.opcode == 10) {
      CHECK(f.payload == "are you there");
      ponged = true;
      continue;
    }
    REQUIRE(f.opcode == 1);
    const Json r = Json::parse(f.payload);
    CHECK(r.at("id") == next_id);
    CHECK(r.at("ok") == true);
    ++next_id;
  }
  if (!ponged) {
    RawWebSocket::Frame f = ws.Read();
    CHECK(f.opcode == 10);
  }

  // Now idle: a pong alone wakes the session and is dropped; the next request is still answered,
  // whether it comes alone or right behind another pong.
  ws.SendRaw(RawWebSocket::MaskedFrame(10, ""));
  CHECK(Json::parse(ws.Call(R"({"id":5,"cmd":"ping"})")).at("id") == 5);
  ws.SendRaw(RawWebSocket::MaskedFrame(10, "p") + RawWebSocket::MaskedFrame(1, R"({"id":6,"cmd":"ping"})"));
  CHECK(Json::parse(ws.Call(R"({"id":7,"cmd":"ping"})")).at("id") == 6);
  RawWebSocket::Frame seventh = ws.Read();
  REQUIRE(seventh.opcode == 1);
  CHECK(Json::parse(seventh.payload).at("id") == 7);
  // A request split across writes, its header first, is read whole.
  const std::string split = RawWebSocket::MaskedFrame(1, R"({"id":8,"cmd":"ping"})");
  ws.SendRaw(split.substr(0, 1));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ws.SendRaw(split.substr(1));
  RawWebSocket::Frame eighth = ws.Read();
  REQUIRE(eighth.opcode == 1);
  CHECK(Json::parse(eighth.payload).at("id") == 8);
  CHECK(ReadingSessionsReach(s.port(), 0));
}

TEST_CASE("an idle session that answers nothing is closed by the lane's timer wheel at the idle timeout, "
          "and one that only answers pings is not",
          "[integration][idle]") {
  TestServer s({"--idle-timeout-ms", "400"});
  RawWebSocket mute(s.port());
  RawWebSocket answering(s.port());
  CHECK(Json::parse(answering.Call(R"({"id":1,"cmd":"hello","version":1})")).at("ok") == true);
  const auto start = Clock::now();
  // The answering client replies to each ping with a pong and sends nothing else.
  bool mute_closed = false;
  std::thread mute_reader([&] { mute_closed = mute.WaitForEnd(); });
  while (Clock::now() - start < std::chrono::milliseconds(1600)) {
    RawWebSocket::Frame f = answering.Read(std::chrono::milliseconds(100));
    if (f.opcode == 9) answering.SendRaw(RawWebSocket::MaskedFrame(10, f.payload));
    REQUIRE(f.opcode != 8);  // Never closed.
  }
  mute_reader.join();
  CHECK(mute_closed);
  CHECK(Json::parse(answering.Call(R"({"id":2,"cmd":"ping"})")).at("ok") == true);
}

}  // namespace
}  // namespace chat::test

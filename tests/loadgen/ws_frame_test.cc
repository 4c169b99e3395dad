// chat-loadgen's WebSocket framing (tools/chat-loadgen/ws_frame.h): what it writes, and reading the
// server's stream however it is cut by the network.
#include "ws_frame.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace chat::loadgen {
namespace {

// Frames as a server sends them: unmasked.
std::string ServerFrame(WsOpcode op, std::string_view payload, bool fin = true) {
  std::string f;
  f.push_back(static_cast<char>((fin ? 0x80 : 0) | static_cast<int>(op)));
  const std::size_t n = payload.size();
  if (n < 126) {
    f.push_back(static_cast<char>(n));
  } else if (n <= 0xFFFF) {
    f.push_back(static_cast<char>(126));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n & 0xFF));
  } else {
    f.push_back(static_cast<char>(127));
    for (int shift = 56; shift >= 0; shift -= 8) f.push_back(static_cast<char>((n >> shift) & 0xFF));
  }
  f.append(payload);
  return f;
}

struct Recorder : WsFrameReader::Sink {
  void OnText(std::string_view t) override { texts.emplace_back(t); }
  void OnPing(std::string_view p) override { pings.emplace_back(p); }
  void OnClose(int c, std::string_view r) override {
    close_code = c;
    close_reason = r;
  }
  void OnProtocolError(const char* what) override { error = what; }
  std::vector<std::string> texts, pings;
  int close_code = 0;
  std::string close_reason, error;
};

TEST_CASE("ws frame: client frames are masked and decode to the payload", "[loadgen][ws]") {
  for (std::size_t n : {0u, 5u, 125u, 126u, 65535u, 65536u, 70000u}) {
    const std::string payload(n, 'a');
    const std::string f = EncodeClientFrame(WsOpcode::kText, payload, 0x11223344);
    const auto b0 = static_cast<std::uint8_t>(f[0]);
    const auto b1 = static_cast<std::uint8_t>(f[1]);
    CHECK(b0 == 0x81);
    CHECK((b1 & 0x80) != 0);
    std::size_t header = 2;
    std::uint64_t len = b1 & 0x7F;
    if (len == 126) {
      header = 4;
      len = (static_cast<std::uint64_t>(static_cast<std::uint8_t>(f[2])) << 8) | static_cast<std::uint8_t>(f[3]);
    } else if (len == 127) {
      header = 10;
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | static_cast<std::uint8_t>(f[2 + i]);
    }
    REQUIRE(len == n);
    REQUIRE(f.size() == header + 4 + n);
    const char* mask = f.data() + header;
    std::string unmasked;
    for (std::size_t i = 0; i < n; ++i) unmasked.push_back(static_cast<char>(f[header + 4 + i] ^ mask[i % 4]));
    CHECK(unmasked == payload);
  }
}

TEST_CASE("ws frame: messages read whole however the stream is split", "[loadgen][ws]") {
  const std::string big(70000, 'z');
  std::string stream = ServerFrame(WsOpcode::kText, "first") + ServerFrame(WsOpcode::kPing, "p") +
                       ServerFrame(WsOpcode::kText, std::string(300, 'm')) + ServerFrame(WsOpcode::kText, big) +
                       ServerFrame(WsOpcode::kText, "frag-", false) +
                       ServerFrame(WsOpcode::kPing, "in between") +  // Control frames may interleave.
                       ServerFrame(WsOpcode::kContinuation, "ment", true) +
                       ServerFrame(WsOpcode::kBinary, "ignored") + ServerFrame(WsOpcode::kText, "");
  for (std::size_t chunk : {1u, 2u, 3u, 7u, 100u, 1500u, 100000u}) {
    INFO("chunk " << chunk);
    WsFrameReader reader;
    Recorder r;
    for (std::size_t off = 0; off < stream.size(); off += chunk) {
      REQUIRE(reader.Feed(stream.data() + off, std::min(chunk, stream.size() - off), r));
    }
    CHECK(r.error.empty());
    REQUIRE(r.texts.size() == 5);
    CHECK(r.texts[0] == "first");
    CHECK(r.texts[1] == std::string(300, 'm'));
    CHECK(r.texts[2] == big);
    CHECK(r.texts[3] == "frag-ment");
    CHECK(r.texts[4].empty());
    CHECK(r.pings == std::vector<std::string>{"p", "in between"});
    CHECK(reader.buffered() == 0);
  }
}

TEST_CASE("ws frame: close ends the stream with its code", "[loadgen][ws]") {
  WsFrameReader reader;
  Recorder r;
  const std::string close = ServerFrame(WsOpcode::kClose, std::string("\x03\xf0slow consumer", 15));
  const std::string after = ServerFrame(WsOpcode::kText, "never seen");
  const std::string stream = close + after;
  CHECK_FALSE(reader.Feed(stream.data(), stream.size(), r));
  CHECK(r.close_code == 1008);
  CHECK(r.close_reason == "slow consumer");
  CHECK(r.texts.empty());
  CHECK_FALSE(reader.Feed(after.data(), after.size(), r));
}

TEST_CASE("ws frame: protocol errors", "[loadgen][ws]") {
  auto error_of = [](const std::string& stream) {
    WsFrameReader reader(1000);
    Recorder r;
    reader.Feed(stream.data(), stream.size(), r);
    return r.error;
  };
  std::string masked = ServerFrame(WsOpcode::kText, "x");
  masked[1] = static_cast<char>(masked[1] | 0x80);
  CHECK_FALSE(error_of(masked).empty());
  CHECK_FALSE(error_of(ServerFrame(WsOpcode::kText, std::string(1001, 'x'))).empty());
  CHECK_FALSE(error_of(ServerFrame(WsOpcode::kContinuation, "orphan")).empty());
  CHECK_FALSE(error_of(ServerFrame(WsOpcode::kText, "a", false) + ServerFrame(WsOpcode::kText, "b")).empty());
  std::string reserved = ServerFrame(WsOpcode::kText, "x");
  reserved[0] = static_cast<char>(reserved[0] | 0x40);
  CHECK_FALSE(error_of(reserved).empty());
  CHECK(error_of(ServerFrame(WsOpcode::kText, "fine")).empty());
}

}  // namespace
}  // namespace chat::loadgen

// The session's outbound queue and the WebSocket frame header it writes: header-only pieces of
// libchat::server tested without sockets.
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "send_queue.h"
#include "ws_frame.h"

using chat::detail::OutFrame;
using chat::detail::SendQueue;
using chat::detail::TextFrameHeader;

namespace {

OutFrame Frame(const std::string& text) { return OutFrame{std::make_shared<const std::string>(text), 0, false}; }

}  // namespace

TEST_CASE("send queue: frames come out in order through pops and compaction", "[unit][server]") {
  SendQueue q(10000, 1 << 20);
  int next_out = 0;
  for (int i = 0; i < 1000; ++i) {
    REQUIRE(q.Push(Frame(std::to_string(i))));
    // Pop two of every three: the queue never drains, so the written front must be compacted away.
    if (i % 3 != 0) {
      REQUIRE(*q.front().text == std::to_string(next_out));
      q.Pop();
      ++next_out;
    }
  }
  CHECK(q.size() == static_cast<std::size_t>(1000 - next_out));
  for (std::size_t i = 0; i < q.size(); ++i) CHECK(*q[i].text == std::to_string(next_out + static_cast<int>(i)));
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < q.size(); ++i) bytes += q[i].text->size();
  CHECK(q.bytes() == bytes);
  while (!q.empty()) {
    CHECK(*q.front().text == std::to_string(next_out++));
    q.Pop();
  }
  CHECK(q.bytes() == 0);
}

TEST_CASE("send queue: bounds in frames and bytes, one large frame fits an empty queue", "[unit][server]") {
  SendQueue q(3, 10);
  CHECK(q.Push(Frame(std::string(50, 'x'))));  // Larger than the byte bound, but the queue was empty.
  CHECK_FALSE(q.Push(Frame("a")));
  q.Pop();
  CHECK(q.Push(Frame("aaaa")));
  CHECK(q.Push(Frame("bbbb")));
  CHECK_FALSE(q.Push(Frame("ccc")));  // 11 bytes > 10.
  CHECK(q.Push(Frame("cc")));
  CHECK_FALSE(q.Push(Frame("d")));  // 4 frames > 3.
  CHECK(q.HalfFull());
}

TEST_CASE("send queue: Clear keeps the frames being written", "[unit][server]") {
  SendQueue q(100, 1000);
  for (const char* t : {"a", "bb", "ccc", "dddd"}) REQUIRE(q.Push(Frame(t)));
  q.Clear(2);
  REQUIRE(q.size() == 2);
  CHECK(*q[0].text == "a");
  CHECK(*q[1].text == "bb");
  CHECK(q.bytes() == 3);
  q.Clear(0);
  CHECK(q.empty());
  CHECK(q.bytes() == 0);
  CHECK(q.Push(Frame("again")));
  CHECK(*q.front().text == "again");
}

TEST_CASE("send queue: holds no storage once drained, by pops or by Clear (an idle session keeps none)",
          "[unit][server]") {
  SendQueue q(1000, 1 << 20);
  for (int i = 0; i < 40; ++i) REQUIRE(q.Push(Frame(std::to_string(i))));
  CHECK(q.capacity() >= 40);
  while (!q.empty()) q.Pop();
  CHECK(q.capacity() == 0);
  for (int i = 0; i < 40; ++i) REQUIRE(q.Push(Frame(std::to_string(i))));
  q.Clear(0);
  CHECK(q.capacity() == 0);
}

TEST_CASE("ReleaseStorage frees a vector's storage, which assigning {} does not", "[unit][server]") {
  std::vector<int> v(32);
  v = {};
  CHECK(v.capacity() == 32);  // Why ReleaseStorage exists (an initializer_list assignment).
  v.resize(64);
  chat::detail::ReleaseStorage(v);
  CHECK(v.empty());
  CHECK(v.capacity() == 0);
}

TEST_CASE("websocket text frame headers use the shortest length form (RFC 6455 5.2)", "[unit][server]") {
  auto h = TextFrameHeader(0);
  CHECK(h.size == 2);
  CHECK(h.bytes[0] == 0x81);
  CHECK(h.bytes[1] == 0);
  h = TextFrameHeader(125);
  CHECK(h.size == 2);
  CHECK(h.bytes[1] == 125);
  h = TextFrameHeader(126);
  REQUIRE(h.size == 4);
  CHECK(h.bytes[1] == 126);
  CHECK(h.bytes[2] == 0);
  CHECK(h.bytes[3] == 126);
  h = TextFrameHeader(65535);
  REQUIRE(h.size == 4);
  CHECK(h.bytes[2] == 0xFF);
  CHECK(h.bytes[3] == 0xFF);
  h = TextFrameHeader(65536);
  REQUIRE(h.size == 10);
  CHECK(h.bytes[1] == 127);
  for (int i = 2; i < 7; ++i) CHECK(h.bytes[i] == 0);
  CHECK(h.bytes[7] == 1);
  CHECK(h.bytes[8] == 0);
  CHECK(h.bytes[9] == 0);
}

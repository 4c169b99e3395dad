// What a session knows about client frames beside Beast (ws_frame.h): where frames end in the bytes
// handed to Beast (FrameScanner), and a whole pong at the front of unread bytes (CompletePongSize).
#include <catch2/catch.hpp>
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "ws_frame.h"

using chat::detail::CompletePongSize;
using chat::detail::FrameScanner;

namespace {

// A masked client frame, as a browser sends it.
std::vector<std::uint8_t> ClientFrame(std::uint8_t first_byte, std::size_t payload_size) {
  std::vector<std::uint8_t> f{first_byte};
  if (payload_size < 126) {
    f.push_back(static_cast<std::uint8_t>(0x80 | payload_size));
  } else if (payload_size <= 0xFFFF) {
    f.push_back(0x80 | 126);
    f.push_back(static_cast<std::uint8_t>(payload_size >> 8));
    f.push_back(static_cast<std::uint8_t>(payload_size));
  } else {
    f.push_back(0x80 | 127);
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<std::uint8_t>(std::uint64_t{payload_size} >> (8 * i)));
  }
  for (std::uint8_t k : {0x12, 0x34, 0x56, 0x78}) f.push_back(k);
  f.insert(f.end(), payload_size, 'x');
  return f;
}

void FeedInPieces(FrameScanner& s, const std::vector<std::uint8_t>& bytes, std::size_t piece) {
  for (std::size_t i = 0; i < bytes.size(); i += piece) s.Feed(bytes.data() + i, std::min(piece, bytes.size() - i));
}

}  // namespace

TEST_CASE("frame scanner: drained exactly when the bytes fed end with the last message returned",
          "[unit][server]") {
  const std::size_t pieces[] = {1, 2, 3, 7, 1536, 100000};
  for (std::size_t piece : pieces) {
    INFO("fed in pieces of " << piece);
    FrameScanner s;
    CHECK(s.Drained(0));  // Nothing fed yet.

    // One small text message, in any pieces: drained only once it is whole and returned.
    const auto text = ClientFrame(0x81, 20);
    s.Feed(text.data(), text.size() - 1);
    CHECK_FALSE(s.Drained(0));
    s.Feed(text.data() + text.size() - 1, 1);
    CHECK_FALSE(s.Drained(0));  // Fed whole, but the reader has not returned it yet.
    CHECK(s.Drained(1));

    // A fragmented message (text, continuation, a ping between, final continuation) with 16- and
    // 64-bit lengths.
    std::vector<std::uint8_t> all;
    for (const auto& f : {ClientFrame(0x01, 300), ClientFrame(0x89, 4), ClientFrame(0x00, 70000), ClientFrame(0x80, 0)}) {
      all.insert(all.end(), f.begin(), f.end());
    }
    FeedInPieces(s, all, piece);
    CHECK(s.Drained(2));

    // Two messages in one read: not drained after the first is returned.
    std::vector<std::uint8_t> two = ClientFrame(0x81, 5);
    const auto second = ClientFrame(0x82, 9);
    two.insert(two.end(), second.begin(), second.end());
    FeedInPieces(s, two, piece);
    CHECK_FALSE(s.Drained(3));
    CHECK(s.Drained(4));

    // A pong after a message: Beast has not read it yet, so not drained whatever was returned.
    const auto pong = ClientFrame(0x8A, 0);
    s.Feed(pong.data(), pong.size());
    CHECK_FALSE(s.Drained(4));
    const auto third = ClientFrame(0x81, 1);
    s.Feed(third.data(), third.size());
    CHECK(s.Drained(5));
  }
}

TEST_CASE("frame scanner: only pongs unread exactly when nothing but whole pongs follows the last message returned",
          "[unit][server]") {
  const std::size_t pieces[] = {1, 2, 5, 1536};
  for (std::size_t piece : pieces) {
    INFO("fed in pieces of " << piece);
    FrameScanner s;
    CHECK(s.OnlyPongsUnread(0));  // Nothing fed: drained, which includes no pongs.
    std::vector<std::uint8_t> bytes = ClientFrame(0x81, 10);
    for (const auto& f : {ClientFrame(0x8A, 0), ClientFrame(0x8A, 125)}) bytes.insert(bytes.end(), f.begin(), f.end());
    // Fed up to each byte: only the end of the message, and the end of each whole pong, qualify.
    const std::size_t message_end = 2 + 4 + 10, first_pong_end = message_end + 6, end = bytes.size();
    for (std::size_t n = 1; n <= end; ++n) {
      FrameScanner part;
      part.Feed(bytes.data(), n);
      const bool at_boundary = n == message_end || n == first_pong_end || n == end;
      INFO("fed " << n << " bytes");
      CHECK(part.OnlyPongsUnread(1) == at_boundary);
      CHECK_FALSE(part.OnlyPongsUnread(0));  // The message is not returned yet.
      CHECK(part.Drained(1) == (n == message_end));
    }
    FeedInPieces(s, bytes, piece);
    CHECK(s.OnlyPongsUnread(1));
    CHECK_FALSE(s.Drained(1));
    // A ping behind them must be answered by Beast now: not only pongs any more, until a message ends.
    const auto ping = ClientFrame(0x89, 3);
    FeedInPieces(s, ping, piece);
    CHECK_FALSE(s.OnlyPongsUnread(1));
    const auto text = ClientFrame(0x81, 3);
    FeedInPieces(s, text, piece);
    CHECK(s.OnlyPongsUnread(2));
    CHECK(s.Drained(2));
    // A pong in the middle of a fragmented message does not end it.
    std::vector<std::uint8_t> fragmented = ClientFrame(0x01, 4);
    for (const auto& f : {ClientFrame(0x8A, 1), ClientFrame(0x80, 2)}) fragmented.insert(fragmented.end(), f.begin(), f.end());
    FeedInPieces(s, std::vector<std::uint8_t>(fragmented.begin(), fragmented.begin() + 2 + 4 + 4 + 2 + 4 + 1), piece);
    CHECK_FALSE(s.OnlyPongsUnread(2));
    s.Feed(fragmented.data() + 17, fragmented.size() - 17);
    CHECK(s.OnlyPongsUnread(3));
    // A pong with an RSV bit is Beast's to refuse: not counted as one.
    auto odd = ClientFrame(0x8A, 0);
    odd[0] |= 0x40;
    FeedInPieces(s, odd, piece);
    CHECK_FALSE(s.OnlyPongsUnread(3));
  }
}

TEST_CASE("a whole masked pong at the front of unread bytes is recognised, anything else is not", "[unit][server]") {
  const auto pong = ClientFrame(0x8A, 4);
  CHECK(CompletePongSize(pong.data(), pong.size()) == pong.size());
  auto pong_and_more = pong;
  const auto text = ClientFrame(0x81, 3);
  pong_and_more.insert(pong_and_more.end(), text.begin(), text.end());
  CHECK(CompletePongSize(pong_and_more.data(), pong_and_more.size()) == pong.size());
  // Not whole yet.
  CHECK_FALSE(CompletePongSize(pong.data(), pong.size() - 1));
  CHECK_FALSE(CompletePongSize(pong.data(), 1));
  // Other frames, and pongs Beast must refuse: unmasked, RSV bits, no FIN, a payload over 125.
  CHECK_FALSE(CompletePongSize(text.data(), text.size()));
  const auto ping = ClientFrame(0x89, 0);
  CHECK_FALSE(CompletePongSize(ping.data(), ping.size()));
  auto unmasked = pong;
  unmasked[1] &= 0x7F;
  CHECK_FALSE(CompletePongSize(unmasked.data(), unmasked.size()));
  auto rsv = pong;
  rsv[0] |= 0x40;
  CHECK_FALSE(CompletePongSize(rsv.data(), rsv.size()));
  auto no_fin = pong;
  no_fin[0] &= 0x7F;
  CHECK_FALSE(CompletePongSize(no_fin.data(), no_fin.size()));
  const auto long_pong = ClientFrame(0x8A, 126);
  CHECK_FALSE(CompletePongSize(long_pong.data(), long_pong.size()));
}

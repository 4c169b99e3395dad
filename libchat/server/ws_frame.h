// The few things a session knows about WebSocket frames (RFC 6455 section 5.2) beside Beast, which
// parses and checks everything it reads:
// * TextFrameHeader: the header of an unfragmented, unmasked text frame, as a server sends it.
//   Sessions write their frames themselves (through their transport's write gate, transport.h) so
//   that a batch of frames goes out in one gathered write: payload bytes are shared by every
//   recipient, the header is built per write from the payload's length.
// * FrameScanner: where the frames end in the bytes handed to Beast, so that a session knows when
//   Beast holds nothing unread (or only pongs) and it may wait for the socket instead (ws_session.h).
// * CompletePongSize: a whole client pong at the front of bytes not handed to Beast yet, which a
//   waiting session drops itself (Beast would only drop it too, but then go on holding a read).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace chat::detail {

struct FrameHeader {
  std::array<std::uint8_t, 10> bytes{};
  std::size_t size = 0;
};

inline FrameHeader TextFrameHeader(std::size_t payload_size) {
  FrameHeader h;
  h.bytes[0] = 0x81;  // FIN, opcode 1 (text); RSV bits clear: no extension is negotiated.
  if (payload_size < 126) {
    h.bytes[1] = static_cast<std::uint8_t>(payload_size);
    h.size = 2;
  } else if (payload_size <= 0xFFFF) {
    h.bytes[1] = 126;
    h.bytes[2] = static_cast<std::uint8_t>(payload_size >> 8);
    h.bytes[3] = static_cast<std::uint8_t>(payload_size);
    h.size = 4;
  } else {
    h.bytes[1] = 127;
    const std::uint64_t n = payload_size;
    for (int i = 0; i < 8; ++i) h.bytes[2 + i] = static_cast<std::uint8_t>(n >> (56 - 8 * i));
    h.size = 10;
  }
  return h;
}

// Follows the frame boundaries of a client's byte stream fed to it in order, in pieces of any size.
// It reads only frame headers (their length fields); the bytes stay Beast's to parse and check.
class FrameScanner {
 public:
  void Feed(const std::uint8_t* p, std::size_t n) {
    while (n > 0) {
      if (payload_left_ > 0) {
        const std::size_t take = payload_left_ < n ? static_cast<std::size_t>(payload_left_) : n;
        payload_left_ -= take;
        p += take;
        n -= take;
        if (payload_left_ == 0) EndFrame();
        continue;
      }
      header_[have_++] = *p++;
      --n;
      if (have_ < 2) continue;
      const std::uint8_t len7 = header_[1] & 0x7F;
      const std::size_t need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((header_[1] & 0x80) != 0 ? 4 : 0);
      if (have_ < need) continue;
      std::uint64_t len = len7;
      if (len7 == 126) len = (std::uint64_t{header_[2]} << 8) | header_[3];
      if (len7 == 127) {
        len = 0;
        for (int i = 0; i < 8; ++i) len = (len << 8) | header_[2 + i];
      }
      // FIN on a data frame (continuation, text, binary) ends a message; control frames never do.
      ends_message_ = (header_[0] & 0x80) != 0 && (header_[0] & 0x0F) < 8;
      is_pong_ = header_[0] == 0x8A;
      have_ = 0;
      payload_left_ = len;
      if (len == 0) EndFrame();
    }
  }

  // True when the bytes fed so far are exactly the frames of `messages` whole messages (and any
  // control frames before their ends): a reader that has returned that many messages holds nothing
  // unread.
  bool Drained(std::uint64_t messages) const {
    return have_ == 0 && payload_left_ == 0 && last_ended_message_ && messages_ == messages;
  }

  // True when the bytes fed so far are those of `messages` whole messages followed by nothing but
  // whole pongs (FIN, no RSV bits), Drained() included: Beast holds them unread, but reading them would
  // only tell that the peer is alive, so the reader may wait for the socket and let Beast drop them
  // with the next request. (Pings are not among them: Beast must answer those now.)
  bool OnlyPongsUnread(std::uint64_t messages) const {
    return have_ == 0 && payload_left_ == 0 && only_pongs_since_message_ && messages_ == messages;
  }

 private:
  void EndFrame() {
    last_ended_message_ = ends_message_;
    if (ends_message_) ++messages_;
    only_pongs_since_message_ = ends_message_ || (only_pongs_since_message_ && is_pong_);
  }

  std::uint64_t payload_left_ = 0;  // Of the frame whose header was read last.
  std::uint64_t messages_ = 0;      // Messages whose last frame has been fed whole.
  std::array<std::uint8_t, 14> header_{};
  std::uint8_t have_ = 0;            // Bytes of a header being read.
  bool ends_message_ = false;        // The frame being read ends a message.
  bool last_ended_message_ = true;   // The last whole frame ended a message (or nothing was fed).
  bool is_pong_ = false;             // The frame being read is a pong.
  bool only_pongs_since_message_ = true;  // Every whole frame since the last message's end is a pong.
};

// If `bytes` begins with a whole, well-formed client pong (FIN, no RSV bits, masked, at most 125
// bytes of payload, as RFC 6455 requires of control frames), its size; otherwise nothing (the bytes
// are Beast's to read, and to refuse if they are wrong).
inline std::optional<std::size_t> CompletePongSize(const std::uint8_t* bytes, std::size_t n) {
  if (n < 2 || bytes[0] != 0x8A || (bytes[1] & 0x80) == 0) return std::nullopt;
  const std::size_t len = bytes[1] & 0x7F;
  if (len > 125 || n < 2 + 4 + len) return std::nullopt;
  return 2 + 4 + len;
}

}  // namespace chat::detail

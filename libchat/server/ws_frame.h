// The header of an unfragmented, unmasked WebSocket text frame (RFC 6455 section 5.2), as a server
// sends it. Sessions write their frames themselves (through their transport's write gate, transport.h) so that a batch of frames goes
// out in one gathered write: payload bytes are shared by every recipient, the header is built per
// write from the payload's length.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

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

}  // namespace chat::detail

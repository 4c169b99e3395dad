#include "ws_frame.h"

namespace chat::loadgen {

std::string EncodeClientFrame(WsOpcode opcode, std::string_view payload, std::uint32_t mask_key) {
  std::string f;
  const std::size_t n = payload.size();
  f.reserve(n + 14);
  f.push_back(static_cast<char>(0x80 | static_cast<std::uint8_t>(opcode)));  // FIN + opcode.
  if (n < 126) {
    f.push_back(static_cast<char>(0x80 | n));
  } else if (n <= 0xFFFF) {
    f.push_back(static_cast<char>(0x80 | 126));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n & 0xFF));
  } else {
    f.push_back(static_cast<char>(0x80 | 127));
    for (int shift = 56; shift >= 0; shift -= 8) f.push_back(static_cast<char>((static_cast<std::uint64_t>(n) >> shift) & 0xFF));
  }
  const char mask[4] = {static_cast<char>(mask_key >> 24), static_cast<char>(mask_key >> 16),
                        static_cast<char>(mask_key >> 8), static_cast<char>(mask_key)};
  f.append(mask, 4);
  const std::size_t start = f.size();
  f.append(payload);
  for (std::size_t i = 0; i < n; ++i) f[start + i] = static_cast<char>(f[start + i] ^ mask[i & 3]);
  return f;
}

bool WsFrameReader::Feed(const char* data, std::size_t size, Sink& sink) {
  if (done_) return false;
  if (partial_.empty()) {
    // The common case: parse straight from the caller's buffer and keep only an incomplete tail.
    const std::size_t used = Parse(data, size, sink);
    if (used == std::string::npos) return false;
    partial_.assign(data + used, size - used);
    return true;
  }
  partial_.append(data, size);
  const std::size_t used = Parse(partial_.data(), partial_.size(), sink);
  if (used == std::string::npos) return false;
  partial_.erase(0, used);
  return true;
}

std::size_t WsFrameReader::Parse(const char* data, std::size_t size, Sink& sink) {
  std::size_t pos = 0;
  for (;;) {
    const std::size_t left = size - pos;
    if (left < 2) return pos;
    const auto b0 = static_cast<std::uint8_t>(data[pos]);
    const auto b1 = static_cast<std::uint8_t>(data[pos + 1]);
    if (b0 & 0x70) {
      done_ = true;
      sink.OnProtocolError("reserved bits set (no extension was negotiated)");
      return std::string::npos;
    }
    if (b1 & 0x80) {
      done_ = true;
      sink.OnProtocolError("masked frame from the server");
      return std::string::npos;
    }
    std::size_t header = 2;
    std::uint64_t length = b1 & 0x7F;
    if (length == 126) {
      header = 4;
      if (left < header) return pos;
      length = (static_cast<std::uint64_t>(static_cast<std::uint8_t>(data[pos + 2])) << 8) |
               static_cast<std::uint8_t>(data[pos + 3]);
    } else if (length == 127) {
      header = 10;
      if (left < header) return pos;
      length = 0;
      for (int i = 0; i < 8; ++i) length = (length << 8) | static_cast<std::uint8_t>(data[pos + 2 + i]);
    }
    if (length > max_message_) {
      done_ = true;
      sink.OnProtocolError("frame larger than the message limit");
      return std::string::npos;
    }
    if (left - header < length) return pos;
    const std::string_view payload(data + pos + header, static_cast<std::size_t>(length));
    pos += header + static_cast<std::size_t>(length);
    if (!OnFrame((b0 & 0x80) != 0, static_cast<WsOpcode>(b0 & 0x0F), payload, sink)) return std::string::npos;
  }
}

bool WsFrameReader::OnFrame(bool fin, WsOpcode opcode, std::string_view payload, Sink& sink) {
  auto fail = [&](const char* what) {
    done_ = true;
    sink.OnProtocolError(what);
    return false;
  };
  switch (opcode) {
    case WsOpcode::kText:
    case WsOpcode::kBinary:
      if (in_message_) return fail("new message before the previous one ended");
      if (fin) {
        // Binary messages are not part of protocol v1: dropped.
        if (opcode == WsOpcode::kText) sink.OnText(payload);
        return !done_;
      }
      in_message_ = true;
      message_is_text_ = opcode == WsOpcode::kText;
      message_.assign(payload);
      return true;
    case WsOpcode::kContinuation:
      if (!in_message_) return fail("continuation frame outside a message");
      if (message_.size() + payload.size() > max_message_) return fail("message larger than the limit");
      message_.append(payload);
      if (fin) {
        in_message_ = false;
        if (message_is_text_) sink.OnText(message_);
        message_.clear();
      }
      return !done_;
    case WsOpcode::kPing:
      if (!fin || payload.size() > 125) return fail("malformed ping");
      sink.OnPing(payload);
      return !done_;
    case WsOpcode::kPong:
      return true;
    case WsOpcode::kClose: {
      done_ = true;
      int code = 1005;  // "No status received" (RFC 6455 7.4.1).
      std::string_view reason;
      if (payload.size() >= 2) {
        code = (static_cast<std::uint8_t>(payload[0]) << 8) | static_cast<std::uint8_t>(payload[1]);
        reason = payload.substr(2);
      }
      sink.OnClose(code, reason);
      return false;
    }
  }
  return fail("unknown opcode");
}

}  // namespace chat::loadgen

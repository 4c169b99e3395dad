// The client side of RFC 6455 framing, just what chat-loadgen needs: masked frames out, and a reader
// that turns the server's byte stream back into messages and control frames.
//
// chat-loadgen does its own framing (it started with Beast's websocket::stream) because of what the
// profile showed: Beast reads every socket through a fixed 1536-byte buffer, so a connection behind
// on its frames still costs one recvmsg per ~3 frames, and each message runs a composed operation
// through type-erased executors and a UTF-8 check. Here each connection reads into a buffer that
// grows to 64 KiB when it fills, and frames are parsed in place: the busier the run, the more frames
// each system call brings, so the instrument gets cheaper per delivery exactly when the server it
// measures needs the CPU. See docs/benchmarks.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace chat::loadgen {

enum class WsOpcode : std::uint8_t { kContinuation = 0, kText = 1, kBinary = 2, kClose = 8, kPing = 9, kPong = 10 };

// A complete client frame (FIN set): header, the 4-byte mask `mask_key` and the masked payload.
// Clients must mask (RFC 6455 5.3); the key need not be secret for a load generator on its own
// server, only varied, so callers pass a cheap pseudo-random value.
std::string EncodeClientFrame(WsOpcode opcode, std::string_view payload, std::uint32_t mask_key);

// Reads the server-to-client byte stream. Feed it what the socket returned, in order; it calls the
// sink for every complete message or control frame, with views valid only during the call. Partial
// frames are kept until the rest arrives; a message split over continuation frames is reassembled.
// Not thread-safe: one per connection.
class WsFrameReader {
 public:
  class Sink {
   public:
    virtual ~Sink() = default;
    // A complete text message.
    virtual void OnText(std::string_view text) = 0;
    virtual void OnPing(std::string_view payload) = 0;
    // The server's close frame: its code (1005 if it gave none) and reason.
    virtual void OnClose(int code, std::string_view reason) = 0;
    // The stream broke the protocol (e.g. a masked server frame, a message over the limit).
    virtual void OnProtocolError(const char* what) = 0;
  };

  explicit WsFrameReader(std::size_t max_message = 16 * 1024 * 1024) : max_message_(max_message) {}

  // Consumes `data`. Returns false once the sink has been told of a close or a protocol error (the
  // rest of the stream is then ignored), true otherwise.
  bool Feed(const char* data, std::size_t size, Sink& sink);

  // Makes Feed stop after the current callback and ignore everything after it (the connection is
  // being dropped).
  void Stop() { done_ = true; }

  // Bytes held back: an incomplete frame, or an incomplete fragmented message.
  std::size_t buffered() const { return partial_.size() + message_.size(); }

 private:
  // Parses complete frames from [data, data + size); returns the bytes consumed, or npos when the
  // sink was told to stop.
  std::size_t Parse(const char* data, std::size_t size, Sink& sink);
  bool OnFrame(bool fin, WsOpcode opcode, std::string_view payload, Sink& sink);

  const std::size_t max_message_;
  std::string partial_;   // Bytes of a frame not complete yet.
  std::string message_;   // Text of a fragmented message so far.
  bool in_message_ = false;
  bool message_is_text_ = false;
  bool done_ = false;
};

}  // namespace chat::loadgen

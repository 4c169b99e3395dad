// The body of every message chat-loadgen sends. It carries what a recipient needs to account for the
// delivery on its own, with no lookup shared between threads: the time the message was *scheduled*
// (latency is measured from it, not from when it was actually written, so a sender that falls
// behind shows up in the figures instead of hiding them), the sending client and its message number.
//
//   "lg1 <scheduled steady-clock ns> <sender client index> <sender's message number> xxxx..."
//
// padded with 'x' to the requested size. Plain ASCII: it needs no JSON escaping, so the raw string
// view JsonScanner returns is the body itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace chat::loadgen {

struct BodyStamp {
  std::int64_t scheduled_ns = 0;  // std::chrono::steady_clock, this process.
  std::uint32_t sender = 0;       // Client index.
  std::uint64_t number = 0;       // The sender's message counter.
};

// The stamp followed by padding up to `size` bytes (never shorter than the stamp itself).
std::string EncodeBody(const BodyStamp& stamp, std::size_t size);
// False if `body` is not one of ours.
bool DecodeBody(std::string_view body, BodyStamp* out);

}  // namespace chat::loadgen

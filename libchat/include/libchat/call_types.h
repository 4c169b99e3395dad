// The values of call signalling that travel in events (bus.h, CallSignal) as well as through the
// CallManager's API (calls.h): media, outcomes and how a call ended.
#pragma once

#include <cstdint>
#include <string_view>

#include "libchat/types.h"

namespace chat {

enum class CallMedia : std::uint8_t { kAudio = 0, kVideo = 1 };

// How a call ended, as recorded in the call entry's body ("outcome").
enum class CallOutcome : std::uint8_t {
  kMissed = 0,     // Nobody answered: the ring timeout passed or the caller hung up first.
  kRejected = 1,   // Every callee declined.
  kBusy = 2,       // The (last) callee declined because they were busy.
  kCompleted = 3,  // Answered, then hung up (durationMs counts from the answer).
};

std::string_view ToString(CallMedia media);
std::string_view ToString(CallOutcome outcome);
// Parses "audio" / "video"; false if unknown.
bool Parse(std::string_view s, CallMedia* out);

struct CallEnd {
  CallOutcome outcome = CallOutcome::kMissed;
  TimeMs duration_ms = 0;  // From the answer; 0 if never answered.
};

}  // namespace chat

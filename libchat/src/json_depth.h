// How deeply a JSON text nests, measured on the text before it is parsed. nlohmann::json has no depth
// limit: a request of a few KiB of '[' builds a deep tree that costs memory and time to build and to
// destroy. Both network front doors (protocol v1 frames, admin API bodies) refuse such text first.
#pragma once

#include <cstddef>
#include <string_view>

namespace chat::detail {

// Deepest nesting of arrays and objects that a request may have. {"a":[1]} nests 2 deep. Protocol v1
// needs 3 (request, args, their arrays); 32 leaves clients free without inviting abuse.
inline constexpr std::size_t kMaxJsonDepth = 32;

// True if `text` never opens more than `max_depth` arrays or objects at once. Brackets inside strings
// do not count. Malformed text is not judged here (the parser reports it), only its nesting.
inline bool JsonDepthWithin(std::string_view text, std::size_t max_depth = kMaxJsonDepth) {
  std::size_t depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        if (++depth > max_depth) return false;
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      default:
        break;
    }
  }
  return true;
}

}  // namespace chat::detail

#include "log_escape.h"

#include "validate.h"

namespace chat::detail {

std::string LogEscape(std::string_view text, std::size_t max_bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  const std::string_view shown = text.substr(0, max_bytes);
  std::string out;
  out.reserve(shown.size() + 8);
  for (unsigned char c : shown) {
    switch (c) {
      case '\\': out += "\\\\"; continue;
      case '"': out += "\\\""; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      default: break;
    }
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
      continue;
    }
    // Controls end lines or steer terminals; non-ASCII bytes may be half a character, or a C1
    // control (U+009B is a CSI in some terminals) once decoded: hex for all of them.
    out += "\\x";
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xf]);
  }
  if (text.size() > shown.size()) out += "...(" + std::to_string(text.size()) + " bytes)";
  return out;
}

std::string SanitizeLogLine(std::string_view line, std::size_t max_bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  const std::string_view shown = line.substr(0, max_bytes);
  std::string out;
  out.reserve(shown.size());
  for (unsigned char c : shown) {
    if (c >= 0x20 && c != 0x7f) {
      out.push_back(static_cast<char>(c));
      continue;
    }
    out += "\\x";
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xf]);
  }
  if (line.size() > shown.size()) out += "...(" + std::to_string(line.size()) + " bytes)";
  return out;
}

std::string LogUsername(std::string_view typed) {
  std::string name;
  if (NormalizeUsername(typed, &name).ok()) return "'" + name + "'";
  return "<" + std::to_string(typed.size()) + " bytes, not a username>";
}

}  // namespace chat::detail

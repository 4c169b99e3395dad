#include "json_scan.h"

namespace chat::loadgen {

void JsonScanner::SkipSpace() {
  while (pos_ < text_.size()) {
    const char c = text_[pos_];
    if (c != ' ' && c != '\n' && c != '\r' && c != '\t') return;
    ++pos_;
  }
}

bool JsonScanner::SkipString() {
  // pos_ is at the opening quote.
  for (std::size_t i = pos_ + 1; i < text_.size(); ++i) {
    const char c = text_[i];
    if (c == '\\') {
      ++i;  // The escaped character cannot end the string.
    } else if (c == '"') {
      pos_ = i + 1;
      return true;
    }
  }
  return Fail();
}

bool JsonScanner::EnterObject() {
  if (!ok_) return false;
  SkipSpace();
  if (pos_ >= text_.size() || text_[pos_] != '{') return false;
  ++pos_;
  return true;
}

bool JsonScanner::NextKey(std::string_view* key) {
  if (!ok_) return false;
  SkipSpace();
  if (pos_ < text_.size() && text_[pos_] == ',') {
    ++pos_;
    SkipSpace();
  }
  if (pos_ >= text_.size()) return Fail();
  if (text_[pos_] == '}') {
    ++pos_;
    return false;
  }
  if (text_[pos_] != '"') return Fail();
  const std::size_t start = pos_ + 1;
  if (!SkipString()) return false;
  *key = text_.substr(start, pos_ - 1 - start);
  SkipSpace();
  if (pos_ >= text_.size() || text_[pos_] != ':') return Fail();
  ++pos_;
  SkipSpace();
  return true;
}

bool JsonScanner::EnterArray() {
  if (!ok_) return false;
  SkipSpace();
  if (pos_ >= text_.size() || text_[pos_] != '[') return false;
  ++pos_;
  return true;
}

bool JsonScanner::NextElement() {
  if (!ok_) return false;
  SkipSpace();
  if (pos_ < text_.size() && text_[pos_] == ',') {
    ++pos_;
    SkipSpace();
  }
  if (pos_ >= text_.size()) return Fail();
  if (text_[pos_] == ']') {
    ++pos_;
    return false;
  }
  return true;
}

bool JsonScanner::ReadUint(std::uint64_t* out) {
  if (!ok_) return false;
  SkipSpace();
  std::size_t i = pos_;
  std::uint64_t v = 0;
  while (i < text_.size() && text_[i] >= '0' && text_[i] <= '9') {
    const auto digit = static_cast<std::uint64_t>(text_[i] - '0');
    if (v > (UINT64_MAX - digit) / 10) return false;  // Overflow: not a value we can hold.
    v = v * 10 + digit;
    ++i;
  }
  if (i == pos_) return false;
  // A fraction or exponent makes it a non-integer.
  if (i < text_.size() && (text_[i] == '.' || text_[i] == 'e' || text_[i] == 'E')) return false;
  pos_ = i;
  *out = v;
  return true;
}

bool JsonScanner::ReadInt(std::int64_t* out) {
  if (!ok_) return false;
  SkipSpace();
  const bool negative = pos_ < text_.size() && text_[pos_] == '-';
  const std::size_t saved = pos_;
  if (negative) ++pos_;
  std::uint64_t magnitude = 0;
  if (!ReadUint(&magnitude) || magnitude > static_cast<std::uint64_t>(INT64_MAX)) {
    pos_ = saved;
    return false;
  }
  *out = negative ? -static_cast<std::int64_t>(magnitude) : static_cast<std::int64_t>(magnitude);
  return true;
}

bool JsonScanner::ReadBool(bool* out) {
  if (!ok_) return false;
  SkipSpace();
  const std::string_view rest = text_.substr(pos_);
  if (rest.starts_with("true")) {
    pos_ += 4;
    *out = true;
    return true;
  }
  if (rest.starts_with("false")) {
    pos_ += 5;
    *out = false;
    return true;
  }
  return false;
}

bool JsonScanner::ReadNull() {
  if (!ok_) return false;
  SkipSpace();
  if (!text_.substr(pos_).starts_with("null")) return false;
  pos_ += 4;
  return true;
}

bool JsonScanner::ReadString(std::string_view* out) {
  if (!ok_) return false;
  SkipSpace();
  if (pos_ >= text_.size() || text_[pos_] != '"') return false;
  const std::size_t start = pos_ + 1;
  if (!SkipString()) return false;
  *out = text_.substr(start, pos_ - 1 - start);
  return true;
}

bool JsonScanner::SkipValue() {
  if (!ok_) return false;
  SkipSpace();
  if (pos_ >= text_.size()) return Fail();
  const char c = text_[pos_];
  if (c == '"') return SkipString();
  if (c == '{' || c == '[') {
    // Match brackets by depth, stepping over strings (which may hold brackets).
    int depth = 0;
    while (pos_ < text_.size()) {
      const char d = text_[pos_];
      if (d == '"') {
        if (!SkipString()) return false;
        continue;
      }
      if (d == '{' || d == '[') {
        ++depth;
      } else if (d == '}' || d == ']') {
        if (--depth == 0) {
          ++pos_;
          return true;
        }
      }
      ++pos_;
    }
    return Fail();
  }
  // A number or a literal: runs up to the next delimiter.
  const std::size_t start = pos_;
  while (pos_ < text_.size()) {
    const char d = text_[pos_];
    if (d == ',' || d == '}' || d == ']' || d == ' ' || d == '\n' || d == '\r' || d == '\t') break;
    ++pos_;
  }
  return pos_ > start ? true : Fail();
}

bool JsonScanner::ReadRaw(std::string_view* out) {
  if (!ok_) return false;
  SkipSpace();
  const std::size_t start = pos_;
  if (!SkipValue()) return false;
  *out = text_.substr(start, pos_ - start);
  return true;
}

}  // namespace chat::loadgen

#include "body.h"

#include <charconv>

namespace chat::loadgen {
namespace {

constexpr std::string_view kMagic = "lg1 ";

template <typename T>
bool ReadField(std::string_view* rest, T* out) {
  auto [end, ec] = std::from_chars(rest->data(), rest->data() + rest->size(), *out);
  if (ec != std::errc() || end == rest->data()) return false;
  rest->remove_prefix(static_cast<std::size_t>(end - rest->data()));
  // Fields are separated by one space; the last is followed by one too (then padding).
  if (rest->empty() || rest->front() != ' ') return false;
  rest->remove_prefix(1);
  return true;
}

}  // namespace

std::string EncodeBody(const BodyStamp& stamp, std::size_t size) {
  std::string s;
  s.reserve(size > 64 ? size : 64);
  s.append(kMagic);
  s.append(std::to_string(stamp.scheduled_ns));
  s.push_back(' ');
  s.append(std::to_string(stamp.sender));
  s.push_back(' ');
  s.append(std::to_string(stamp.number));
  s.push_back(' ');
  if (s.size() < size) s.append(size - s.size(), 'x');
  return s;
}

bool DecodeBody(std::string_view body, BodyStamp* out) {
  if (!body.starts_with(kMagic)) return false;
  body.remove_prefix(kMagic.size());
  return ReadField(&body, &out->scheduled_ns) && ReadField(&body, &out->sender) && ReadField(&body, &out->number);
}

}  // namespace chat::loadgen

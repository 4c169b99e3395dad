#include "validate.h"

#include <cctype>

#include "utf8.h"

namespace chat::detail {

Status NormalizeUsername(std::string_view in, std::string* out) {
  out->clear();
  if (in.size() < 3 || in.size() > 32) return Status::InvalidArgument("username must be 3 to 32 characters");
  for (char c : in) {
    auto u = static_cast<unsigned char>(c);
    if (!(std::isalnum(u) || c == '_' || c == '.' || c == '-') || u >= 0x80) {
      return Status::InvalidArgument("username may contain only letters, digits, '_', '.' and '-'");
    }
    out->push_back(static_cast<char>(std::tolower(u)));
  }
  if (!std::isalnum(static_cast<unsigned char>((*out)[0]))) {
    return Status::InvalidArgument("username must start with a letter or digit");
  }
  return Status::Ok();
}

Status CheckText(std::string_view field, std::string_view value, std::size_t max_bytes, bool required) {
  if (required && value.empty()) return Status::InvalidArgument(std::string(field) + " is required");
  if (value.size() > max_bytes) {
    return Status::InvalidArgument(std::string(field) + " is " + std::to_string(value.size()) +
                                   " bytes; the limit is " + std::to_string(max_bytes));
  }
  if (!IsValidUtf8(value)) return Status::InvalidArgument(std::string(field) + " is not valid UTF-8");
  return Status::Ok();
}

Status CheckEmail(std::string_view value, std::size_t max_bytes) {
  if (value.empty()) return Status::Ok();
  LIBCHAT_RETURN_IF_ERROR(CheckText("email", value, max_bytes));
  auto at = value.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == value.size() || value.find('@', at + 1) != std::string_view::npos ||
      value.find(' ') != std::string_view::npos) {
    return Status::InvalidArgument("email '" + std::string(value) + "' is not an address");
  }
  return Status::Ok();
}

}  // namespace chat::detail

// Input checks shared by the service's operations. Each returns InvalidArgument naming the field.
#pragma once

#include <string>
#include <string_view>

#include "libchat/status.h"

namespace chat::detail {

// Lower-cases and checks a username: 3..32 of [a-z0-9_.-], starting with a letter or digit.
Status NormalizeUsername(std::string_view in, std::string* out);
// Well-formed UTF-8 of at most max_bytes; empty allowed unless required.
Status CheckText(std::string_view field, std::string_view value, std::size_t max_bytes, bool required = false);
// A plausible e-mail address (one '@', something either side, no spaces), or empty.
Status CheckEmail(std::string_view value, std::size_t max_bytes);

}  // namespace chat::detail

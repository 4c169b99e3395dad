// The names of every protocol v1 command in the handler table (commands.cc), hello and ping aside:
// for the authorisation test, which must fail when a command is added that it does not walk.
#pragma once

#include <string>
#include <vector>

namespace chat::detail {

std::vector<std::string> CommandNames();

}  // namespace chat::detail

// Refusals worded once for every layer that returns them (the stores and the service), so that a
// client reads the same message whichever layer refused.
#pragma once

#include <string>

#include "libchat/status.h"
#include "libchat/types.h"

namespace chat::detail {

// PermissionDenied for a chat the user is not in. A chat that does not exist answers the same, so
// that chat ids cannot be probed.
inline Status NotMember(ChatId chat) {
  return Status::PermissionDenied("not a member of chat " + std::to_string(chat));
}

}  // namespace chat::detail

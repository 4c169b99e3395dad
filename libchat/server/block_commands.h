// Command handlers of user blocking (blockUser, unblockUser, listBlocked; docs/protocol.md
// "Blocking"). Thin: arguments in, ChatService call, result JSON out. Listed in the command table of
// commands.cc.
#pragma once

#include "commands.h"

namespace chat::detail {

// blockUser {userId} -> {userId, blocked: true}
CommandOutcome BlockUserCommand(CommandContext& ctx, const Caller& caller, Args& args);
// unblockUser {userId} -> {userId, blocked: false}
CommandOutcome UnblockUserCommand(CommandContext& ctx, const Caller& caller, Args& args);
// listBlocked {} -> {blocked: [{userId, since}]}
CommandOutcome ListBlockedCommand(CommandContext& ctx, const Caller& caller, Args& args);

}  // namespace chat::detail

// Command handlers of call signalling (callInvite, callAccept, callReject, callIce, callHangup;
// docs/protocol.md "Calls"). Thin: arguments in, CallManager call, result JSON out. Listed in the
// command table of commands.cc.
#pragma once

#include "commands.h"

namespace chat::detail {

CommandOutcome CallInvite(CommandContext& ctx, const Caller& caller, Args& args);
CommandOutcome CallAccept(CommandContext& ctx, const Caller& caller, Args& args);
CommandOutcome CallReject(CommandContext& ctx, const Caller& caller, Args& args);
CommandOutcome CallIce(CommandContext& ctx, const Caller& caller, Args& args);
CommandOutcome CallHangup(CommandContext& ctx, const Caller& caller, Args& args);

}  // namespace chat::detail

#include "block_commands.h"

namespace chat::detail {
namespace {

// blockUser and unblockUser differ only in the call they make and the state they report.
CommandOutcome SetBlocked(CommandContext& ctx, const Caller& caller, Args& args, bool block) {
  const UserId user = args.U64("userId", true);
  if (!args.ok()) return BadArgs(args);
  Status s = block ? ctx.service.BlockUser(caller.user, user) : ctx.service.UnblockUser(caller.user, user);
  if (!s.ok()) return Err(s);
  ctx.log.Info("user ", caller.user, block ? " blocks user " : " unblocks user ", user);
  return Ok(Json{{"userId", user}, {"blocked", block}});
}

}  // namespace

CommandOutcome BlockUserCommand(CommandContext& ctx, const Caller& caller, Args& args) {
  return SetBlocked(ctx, caller, args, /*block=*/true);
}

CommandOutcome UnblockUserCommand(CommandContext& ctx, const Caller& caller, Args& args) {
  return SetBlocked(ctx, caller, args, /*block=*/false);
}

CommandOutcome ListBlockedCommand(CommandContext& ctx, const Caller& caller, Args& args) {
  if (!args.ok()) return BadArgs(args);
  auto list = ctx.service.ListBlocked(caller.user);
  if (!list.ok()) return Err(list.error());
  Json a = Json::array();
  for (const UserBlock& b : *list) a.push_back(codec::ToJson(b, codec::kOwn));
  return Ok(Json{{"blocked", std::move(a)}});
}

}  // namespace chat::detail

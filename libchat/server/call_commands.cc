#include "call_commands.h"

#include <utility>

#include "event_json.h"

namespace chat::detail {
namespace {

CallDevice CallerDevice(const Caller& caller) { return CallDevice{caller.user, caller.device}; }

}  // namespace

CommandOutcome CallInvite(CommandContext& ctx, const Caller& caller, Args& args) {
  const ChatId chat = args.U64("chatId", true);
  const std::string media_name = args.Str("media", false, "audio");
  const std::string sdp = args.Str("sdp", true);
  if (!args.ok()) return BadArgs(args);
  CallMedia media;
  if (!Parse(media_name, &media)) return Err(Status::InvalidArgument("media must be audio or video, not '" + media_name + "'"));
  auto start = ctx.calls.Invite(CallerDevice(caller), chat, media, sdp);
  if (!start.ok()) return Err(start.error());
  ctx.log.Info("user ", caller.user, " (device ", caller.device, ") calls chat ", chat, ": call ", start->call_id,
               " rings ", start->callees.size(), " users");
  return Ok(Json{{"callId", start->call_id},
                 {"callees", start->callees},
                 {"ringUntil", start->ring_until},
                 {"iceServers", codec::IceServersJson(start->ice_servers)}});
}

CommandOutcome CallAccept(CommandContext& ctx, const Caller& caller, Args& args) {
  const std::string call_id = args.Str("callId", true);
  const std::string sdp = args.Str("sdp", true);
  if (!args.ok()) return BadArgs(args);
  auto ice = ctx.calls.Accept(CallerDevice(caller), call_id, sdp);
  if (!ice.ok()) return Err(ice.error());
  ctx.log.Info("call ", call_id, " answered by user ", caller.user, " (device ", caller.device, ")");
  return Ok(Json{{"callId", call_id}, {"iceServers", codec::IceServersJson(*ice)}});
}

CommandOutcome CallReject(CommandContext& ctx, const Caller& caller, Args& args) {
  const std::string call_id = args.Str("callId", true);
  const std::string reason = args.Str("reason", false, "declined");
  if (!args.ok()) return BadArgs(args);
  if (reason != "declined" && reason != "busy") {
    return Err(Status::InvalidArgument("reason must be declined or busy, not '" + reason + "'"));
  }
  Status s = ctx.calls.Reject(CallerDevice(caller), call_id, reason == "busy");
  if (!s.ok()) return Err(s);
  return Ok(Json{{"callId", call_id}});
}

CommandOutcome CallIce(CommandContext& ctx, const Caller& caller, Args& args) {
  const std::string call_id = args.Str("callId", true);
  const Json* candidate = args.Object("candidate", true);
  if (!args.ok()) return BadArgs(args);
  // Relayed as is: the server does not interpret candidates, it only bounds their size.
  Status s = ctx.calls.Ice(CallerDevice(caller), call_id, Dump(*candidate));
  if (!s.ok()) return Err(s);
  return Ok(Json{{"callId", call_id}});
}

CommandOutcome CallHangup(CommandContext& ctx, const Caller& caller, Args& args) {
  const std::string call_id = args.Str("callId", true);
  if (!args.ok()) return BadArgs(args);
  auto end = ctx.calls.Hangup(CallerDevice(caller), call_id);
  if (!end.ok()) return Err(end.error());
  ctx.log.Info("call ", call_id, " hung up by user ", caller.user, ": ", ToString(end->outcome));
  return Ok(Json{{"callId", call_id}, {"outcome", ToString(end->outcome)}, {"durationMs", end->duration_ms}});
}

}  // namespace chat::detail

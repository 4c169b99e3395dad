#include "attachment_commands.h"

namespace chat::detail {

CommandOutcome CreateAttachmentCommand(CommandContext& ctx, const Caller& caller, Args& args) {
  CommandOutcome o;
  NewAttachment request;
  const std::string kind = args.Str("kind", true);
  request.mime = args.Str("mimeType", true);
  request.size = args.U64("size", true);
  request.sha256 = args.Str("sha256", true);
  if (args.ok() && !Parse(kind, &request.kind)) args.Fail("kind must be audio, image, video or document");
  if (!args.ok()) {
    o.error = args.error();
    return o;
  }
  // The device's bucket here, the user's in the service (docs/security.md).
  if (Status s = ctx.service.ChargeDevice(caller.device, RateAction::kUpload); !s.ok()) {
    o.error = ToWireError(s);
    return o;
  }
  auto ticket = ctx.service.CreateAttachment(caller.user, request);
  if (!ticket.ok()) {
    o.error = ToWireError(ticket.error());
    return o;
  }
  o.ok = true;
  o.result = Json{{"attachment", ToJson(ticket->attachment)},
                  {"uploadPath", ticket->upload_path},
                  {"expiresAt", ticket->expires_at}};
  return o;
}

}  // namespace chat::detail

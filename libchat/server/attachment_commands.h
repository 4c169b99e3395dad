// The attachment commands of protocol v1 (createAttachment); their table entries are in commands.cc.
// The bytes themselves go over HTTP (attachment_http.h).
#pragma once

#include "commands.h"

namespace chat::detail {

// createAttachment {kind, mimeType, size, sha256} -> {attachment, uploadPath, expiresAt}
CommandOutcome CreateAttachmentCommand(CommandContext& ctx, const Caller& caller, Args& args);

}  // namespace chat::detail

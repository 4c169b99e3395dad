// Which MIME types each attachment kind accepts, and the magic bytes that identify them: the table
// documented in docs/protocol.md ("Attachment types"). Pure functions; no I/O.
#pragma once

#include <cstddef>
#include <string_view>

#include "libchat/status.h"
#include "libchat/types.h"

namespace chat::detail {

// Bytes at the start of a file that CheckMagic looks at (the longest signature ends before this).
inline constexpr std::size_t kMagicBytes = 12;

// Checks a declared kind and MIME type. MIME types are lower-case "type/subtype" (no parameters).
// image, audio and video accept only the MIME types of the table, whose content can be checked;
// document accepts any well-formed MIME type outside image/, audio/ and video/. InvalidArgument
// naming the problem otherwise.
Status CheckAttachmentType(AttachmentKind kind, std::string_view mime);

// Checks the first bytes of an upload (`head`: min(size, kMagicBytes) bytes) against the signature of
// `mime`. OK for a MIME type without a known signature (e.g. text/plain). InvalidArgument when the
// bytes say the file is something else.
Status CheckMagic(std::string_view mime, std::string_view head);

}  // namespace chat::detail

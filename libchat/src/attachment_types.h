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
// Every kind accepts only the MIME types of its part of the table (an allow-list: documents too, so
// that nothing a browser would run, such as text/html or image/svg+xml, is taken). InvalidArgument
// naming the problem, and the types accepted, otherwise.
Status CheckAttachmentType(AttachmentKind kind, std::string_view mime);

// Checks the first bytes of an upload (`head`: min(size, kMagicBytes) bytes) against the signature of
// `mime`. OK for a type of the table without a signature (text/plain, text/csv, text/markdown,
// application/octet-stream). InvalidArgument when the bytes say the file is something else.
Status CheckMagic(std::string_view mime, std::string_view head);

}  // namespace chat::detail

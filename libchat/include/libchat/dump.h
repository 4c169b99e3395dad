// Dumps: a Store's whole content as JSON Lines (chat-migrate export, import and copy). The format is
// described field by field in docs/storage.md ("Export format and schema versions"): a header line,
// one line per StoreRecord in Store::Export's order, and an end line that counts the records, so
// that a dump cut short at a line boundary is still caught.
//
// All three functions stream: memory use does not grow with the size of the store or of the dump.
// They block on the stores and the streams; none of them is a snapshot (see Store::Export).
#pragma once

#include <cstdint>
#include <iosfwd>

#include "libchat/result.h"
#include "libchat/store.h"

namespace chat {

// The format version written in the header line; a reader refuses newer ones.
constexpr int kDumpFormatVersion = 1;

// What a dump held, by record type.
struct DumpCounts {
  std::uint64_t records = 0;  // Record lines; the header and end lines are not counted.
  std::uint64_t counters = 0;
  std::uint64_t users = 0;
  std::uint64_t devices = 0;
  std::uint64_t chats = 0;
  std::uint64_t participants = 0;
  std::uint64_t messages = 0;
  std::uint64_t device_cursors = 0;
  std::uint64_t receipts = 0;
  std::uint64_t attachments = 0;
  std::uint64_t bans = 0;
  std::uint64_t blocks = 0;
  std::uint64_t spam_flags = 0;
  std::uint64_t spam_reports = 0;
  std::uint64_t invites = 0;
};

// Writes `store` to `out` as a dump. The store's error, Corruption for a record that cannot be
// written faithfully, or Unavailable if `out` fails. On error, `out` holds a partial dump with no
// end line, which ImportDump refuses.
Result<DumpCounts> ExportDump(Store& store, std::ostream& out);

// Reads a dump from `in` into `store`. Stops at the first bad line with InvalidArgument (or the
// Store's code, e.g. AlreadyExists) whose message starts "line N: ", N counting from 1 at the
// header: a truncated or corrupt line, an unknown record type, a missing, mistyped or unknown
// field, a record out of order, a missing or wrong end line. Records before the bad line are already
// in `store`: import into a fresh store and discard it on failure (chat-migrate does).
// REQUIRES: `store` is fresh; nothing else uses it meanwhile.
Result<DumpCounts> ImportDump(std::istream& in, Store& store);

// Exports `from` and imports the result into `to` in one pass, through the same encoder and reader
// as ExportDump and ImportDump (so a copy checks exactly what an export/import would).
// Errors as for the two of them; "line N" then counts lines of the dump that was never written out.
// REQUIRES: as for ImportDump on `to`.
Result<DumpCounts> CopyStore(Store& from, Store& to);

}  // namespace chat

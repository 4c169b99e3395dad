// Client strings made safe for a log line (docs/security.md, "Logs").
//
// Whatever a client sends (a username, a command name, a path, a reason) may hold a newline that
// forges a log line, terminal escape sequences, or a quarter of a megabyte. Every such string goes
// through LogEscape (or LogUsername) before it is logged: the result is one line of printable ASCII
// of bounded length. Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace chat::detail {

// Bytes of a client string shown in a log line by default; the rest is summarised by its length.
inline constexpr std::size_t kLogStringBytes = 64;

// `text` as printable ASCII: bytes 0x20..0x7e are kept except '\\' and '"', which are escaped as
// \\ and \"; \n \r \t as themselves escaped; every other byte (controls, DEL, any non-ASCII byte)
// as \xNN. At most `max_bytes` bytes of `text` are shown; a longer text ends with
// "...(N bytes)", N its full length. The result never holds a control character, so it can neither
// end a log line nor drive a terminal, and is at most 4 * max_bytes + 24 bytes long.
std::string LogEscape(std::string_view text, std::size_t max_bytes = kLogStringBytes);

// Longest log line written; the rest is cut (and summarised by its length).
inline constexpr std::size_t kMaxLogLineBytes = 4096;

// A whole log line made safe, the backstop behind LogEscape: control bytes (newline included) and
// DEL are escaped as \xNN (other bytes, '\\' and '"' included, are kept: the line is the server's
// own text with client strings already escaped), and the line is cut at `max_bytes`. A string that
// escaped LogEscape by mistake can then still not forge a line.
std::string SanitizeLogLine(std::string_view line, std::size_t max_bytes = kMaxLogLineBytes);

// What a log line may say of a typed username: the name lower-cased and quoted ('alice') when it is
// a valid username, otherwise only "<N bytes, not a username>". People type passwords into the
// username field; a string that cannot be a name is never logged, not even escaped.
std::string LogUsername(std::string_view typed);

}  // namespace chat::detail

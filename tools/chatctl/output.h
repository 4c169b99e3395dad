// Output for people: aligned tables and readable times and sizes.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace chat::ctl {

// `text` from the server (a display name, a reason, a chat name, a message body, an error message)
// made safe for the operator's terminal: C0 and C1 control characters, DEL and the bidirectional
// overrides are shown escaped (\x1b, \u009b, \u202e), as is any byte that is not well-formed UTF-8.
// Other UTF-8 text is kept, so names in any script print as they are. Without this, an escape
// sequence in a display name would run in the operator's terminal.
std::string TerminalSafe(std::string_view text);

// Columns sized to their widest cell; a column whose cells are all numbers (or "-") is right-aligned.
// Cells pass through TerminalSafe.
class Table {
 public:
  explicit Table(std::vector<std::string> headers);
  // REQUIRES: as many cells as headers.
  void Row(std::vector<std::string> cells);
  bool empty() const { return rows_.empty(); }
  void Print(std::ostream& out) const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// Milliseconds since the epoch as "2024-05-01 12:00:00Z" (UTC); "-" for 0.
std::string FormatTime(std::int64_t ms);
// "5.2 MiB", "812 B".
std::string FormatBytes(double bytes);
// "key: value" lines with the keys padded to one width; values pass through TerminalSafe.
void PrintFields(std::ostream& out, const std::vector<std::pair<std::string, std::string>>& fields);

}  // namespace chat::ctl

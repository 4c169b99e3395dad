// Output for people: aligned tables and readable times and sizes.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace chat::ctl {

// Columns sized to their widest cell; a column whose cells are all numbers (or "-") is right-aligned.
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
// "key: value" lines with the keys padded to one width.
void PrintFields(std::ostream& out, const std::vector<std::pair<std::string, std::string>>& fields);

}  // namespace chat::ctl

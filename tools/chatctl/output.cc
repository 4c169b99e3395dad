#include "output.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace chat::ctl {
namespace {

bool IsNumber(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

}  // namespace

Table::Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

void Table::Row(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

void Table::Print(std::ostream& out) const {
  const std::size_t n = headers_.size();
  std::vector<std::size_t> width(n);
  std::vector<bool> right(n);
  for (std::size_t c = 0; c < n; ++c) {
    width[c] = headers_[c].size();
    // Right-aligned: a column of numbers, some perhaps shown as "-".
    bool numbers = false;
    bool others = false;
    for (const auto& row : rows_) {
      width[c] = std::max(width[c], row[c].size());
      if (IsNumber(row[c])) {
        numbers = true;
      } else if (row[c] != "-") {
        others = true;
      }
    }
    right[c] = numbers && !others;
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (std::size_t c = 0; c < n; ++c) {
      const std::string pad(width[c] - cells[c].size(), ' ');
      // The last column is not padded on the right: no trailing spaces.
      if (right[c]) {
        s += pad + cells[c];
      } else {
        s += cells[c] + (c + 1 < n ? pad : "");
      }
      if (c + 1 < n) s += "  ";
    }
    out << s << '\n';
  };
  line(headers_);
  for (const auto& row : rows_) line(row);
}

std::string FormatTime(std::int64_t ms) {
  if (ms <= 0) return "-";
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
  return buf;
}

std::string FormatBytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
  return buf;
}

void PrintFields(std::ostream& out, const std::vector<std::pair<std::string, std::string>>& fields) {
  std::size_t width = 0;
  for (const auto& [k, v] : fields) width = std::max(width, k.size());
  for (const auto& [k, v] : fields) out << k << ':' << std::string(width - k.size() + 1, ' ') << v << '\n';
}

}  // namespace chat::ctl

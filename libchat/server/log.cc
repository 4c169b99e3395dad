#include "libchat/server/log.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

#include "utf8.h"

namespace chat {
namespace {

std::string Stamp(std::int64_t unix_ms) {
  const std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[64];
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(unix_ms % 1000));
  return stamp;
}

// A JSON string's content: quotes, backslashes and controls escaped; bytes that are not UTF-8 (a
// line is the server's text with client strings escaped to ASCII, so only a bug makes one) become
// U+FFFD, so that the object always parses.
void AppendJsonString(std::string* out, std::string_view s) {
  const bool valid = detail::IsValidUtf8(s);
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
    } else if (c < 0x20 || c == 0x7f) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\u%04x", c);
      out->append(esc);
    } else if (c >= 0x80 && !valid) {
      out->append("\\ufffd");
    } else {
      out->push_back(static_cast<char>(c));
    }
  }
}

}  // namespace

std::string_view ToString(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kError: return "error";
  }
  return "info";
}

bool ParseLogLevel(std::string_view text, LogLevel* out) {
  if (text == "debug") *out = LogLevel::kDebug;
  else if (text == "info") *out = LogLevel::kInfo;
  else if (text == "warning" || text == "warn") *out = LogLevel::kWarning;
  else if (text == "error") *out = LogLevel::kError;
  else return false;
  return true;
}

bool ParseLogFormat(std::string_view text, LogFormat* out) {
  if (text == "text") *out = LogFormat::kText;
  else if (text == "json") *out = LogFormat::kJson;
  else return false;
  return true;
}

std::string FormatLogLine(LogFormat format, LogLevel level, std::string_view line, std::int64_t unix_ms) {
  std::string out;
  out.reserve(line.size() + 64);
  if (format == LogFormat::kJson) {
    out.append("{\"time\":\"").append(Stamp(unix_ms)).append("\",\"level\":\"").append(ToString(level));
    out.append("\",\"msg\":\"");
    AppendJsonString(&out, line);
    out.append("\"}");
    return out;
  }
  out.append(Stamp(unix_ms)).append(" ");
  for (char c : ToString(level)) out.push_back(static_cast<char>(c - 'a' + 'A'));
  out.append(" ").append(line);
  return out;
}

LogSink StderrLogSink(LogFormat format) {
  return [format](LogLevel level, std::string_view line) {
    using namespace std::chrono;
    const auto ms = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
    std::string out = FormatLogLine(format, level, line, ms);
    out.push_back('\n');
    // One write(2) per line: lines from concurrent threads never interleave.
    ssize_t ignored = ::write(STDERR_FILENO, out.data(), out.size());
    (void)ignored;
  };
}

}  // namespace chat

// Logging for libchat's server side: one line per event that matters, with a level. Lines never carry
// message bodies, passwords or tokens; callers log ids and sizes instead.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace chat {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Receives one finished line (no trailing newline) with its level. Called from any thread, possibly
// concurrently: a sink must be thread-safe and must not block for long.
using LogSink = std::function<void(LogLevel level, std::string_view line)>;

// How a sink writes a line. kText: "2024-05-01T12:00:00.123Z INFO line". kJson: one JSON object per
// line, {"time":"2024-05-01T12:00:00.123Z","level":"info","msg":"line"}, for log collectors.
enum class LogFormat { kText, kJson };

// A sink writing each line to stderr in `format`, one write(2) per line so that lines from different
// threads never interleave. Default: text.
LogSink StderrLogSink(LogFormat format = LogFormat::kText);
// The line as StderrLogSink(format) writes it, without the final newline, stamped `unix_ms`.
std::string FormatLogLine(LogFormat format, LogLevel level, std::string_view line, std::int64_t unix_ms);

// "debug", "info", "warning", "error".
std::string_view ToString(LogLevel level);
// Parses the names above (and "warn"); false if unknown.
bool ParseLogLevel(std::string_view text, LogLevel* out);
// "text" or "json"; false if unknown.
bool ParseLogFormat(std::string_view text, LogFormat* out);

}  // namespace chat

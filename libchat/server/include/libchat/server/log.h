// Logging for libchat's server side: one line per event that matters, with a level. Lines never carry
// message bodies, passwords or tokens; callers log ids and sizes instead.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace chat {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Receives one finished line (no trailing newline) with its level. Called from any thread, possibly
// concurrently: a sink must be thread-safe and must not block for long.
using LogSink = std::function<void(LogLevel level, std::string_view line)>;

// A sink writing "2024-05-01T12:00:00.123Z INFO line" to stderr, one write(2) per line so that lines
// from different threads never interleave.
LogSink StderrLogSink();

// "debug", "info", "warning", "error".
std::string_view ToString(LogLevel level);
// Parses the names above (and "warn"); false if unknown.
bool ParseLogLevel(std::string_view text, LogLevel* out);

}  // namespace chat

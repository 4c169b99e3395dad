// Logger: the server's level filter in front of a LogSink. Lines are built only when their level is
// enabled. Never pass message bodies, passwords or tokens: log ids, sizes and codes. Pass every
// client string through LogEscape/LogUsername (log_escape.h); as a backstop, each finished line has
// its control characters escaped and is cut at kMaxLogLineBytes, so nothing can forge a line.
#pragma once

#include <atomic>
#include <sstream>
#include <string>
#include <utility>

#include "libchat/server/log.h"
#include "log_escape.h"

namespace chat::detail {

class Logger {
 public:
  Logger(LogLevel min_level, LogSink sink)
      : min_level_(min_level), sink_(sink ? std::move(sink) : StderrLogSink()) {}

  bool Enabled(LogLevel level) const { return level >= min_level_.load(std::memory_order_relaxed); }
  // Changes the level from now on (Server::SetLogLevel; chatd on SIGHUP). Thread-safe.
  void SetLevel(LogLevel level) { min_level_.store(level, std::memory_order_relaxed); }
  LogLevel level() const { return min_level_.load(std::memory_order_relaxed); }

  template <typename... Args>
  void Log(LogLevel level, const Args&... args) const {
    if (!Enabled(level)) return;
    std::ostringstream os;
    (os << ... << args);
    sink_(level, SanitizeLogLine(os.str()));
  }
  template <typename... Args>
  void Debug(const Args&... args) const { Log(LogLevel::kDebug, args...); }
  template <typename... Args>
  void Info(const Args&... args) const { Log(LogLevel::kInfo, args...); }
  template <typename... Args>
  void Warn(const Args&... args) const { Log(LogLevel::kWarning, args...); }
  template <typename... Args>
  void Error(const Args&... args) const { Log(LogLevel::kError, args...); }

 private:
  std::atomic<LogLevel> min_level_;
  LogSink sink_;
};

}  // namespace chat::detail

#include "progress.h"

#include <cstdio>

namespace chat::loadgen {
namespace {

constexpr auto kTtyInterval = std::chrono::milliseconds(200);
constexpr auto kLineInterval = std::chrono::seconds(5);
constexpr int kBarWidth = 24;

}  // namespace

Progress::Progress(bool enabled, bool tty) : enabled_(enabled), tty_(tty) {}

Progress::~Progress() { Clear(); }

void Progress::Clear() {
  if (!bar_drawn_) return;
  // Carriage return and erase-line: the next output starts on a clean line.
  std::fputs("\r\033[2K", stderr);
  std::fflush(stderr);
  bar_drawn_ = false;
}

void Progress::Line(const std::string& text) {
  if (!enabled_) return;
  Clear();
  std::fprintf(stderr, "chat-loadgen: %s\n", text.c_str());
  std::fflush(stderr);
}

void Progress::Update(double fraction, const std::string& status) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < (tty_ ? std::chrono::duration_cast<std::chrono::steady_clock::duration>(kTtyInterval)
                               : std::chrono::duration_cast<std::chrono::steady_clock::duration>(kLineInterval))) {
    return;
  }
  last_draw_ = now;
  if (!tty_) {
    std::fprintf(stderr, "chat-loadgen: %s\n", status.c_str());
    std::fflush(stderr);
    return;
  }
  std::string bar;
  if (fraction >= 0) {
    const int filled = static_cast<int>(fraction * kBarWidth + 0.5);
    bar = "[" + std::string(static_cast<std::size_t>(filled > kBarWidth ? kBarWidth : filled), '#') +
          std::string(static_cast<std::size_t>(filled > kBarWidth ? 0 : kBarWidth - filled), '.') + "] ";
  }
  std::fprintf(stderr, "\r\033[2K%s%s", bar.c_str(), status.c_str());
  std::fflush(stderr);
  bar_drawn_ = true;
}

}  // namespace chat::loadgen

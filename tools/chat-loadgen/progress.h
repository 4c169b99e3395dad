// Progress on stderr while a run goes on: on a terminal, one line redrawn in place with a bar and live
// rates; otherwise (a log file, CI) a plain line every few seconds. Phase changes always get a line
// of their own. Used by the coordinator thread only.
#pragma once

#include <chrono>
#include <string>

namespace chat::loadgen {

class Progress {
 public:
  // `enabled` false prints nothing at all. `tty` chooses the in-place bar.
  Progress(bool enabled, bool tty);
  ~Progress();

  // A line that stays (a phase started or ended).
  void Line(const std::string& text);
  // The current state: `fraction` of the phase done (negative: unknown) and a short status text.
  // Redraws at most 5 times a second on a terminal, once every 5 s otherwise.
  void Update(double fraction, const std::string& status);
  // Removes the bar, if drawn.
  void Clear();

 private:
  const bool enabled_;
  const bool tty_;
  bool bar_drawn_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace chat::loadgen

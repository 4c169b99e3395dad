// Runs the chat-loadgen binary for its integration tests.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace chat::loadgen::test {

// Runs chat-loadgen with `args` (and --json --quiet) to completion.
struct LoadgenRun {
  int exit_code = -1;
  std::string output;     // All of stdout.
  std::string last_line;  // The JSON object.
};
LoadgenRun RunLoadgen(std::vector<std::string> args, std::chrono::milliseconds timeout = std::chrono::seconds(120));

}  // namespace chat::loadgen::test

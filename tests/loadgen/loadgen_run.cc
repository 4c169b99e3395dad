#include "loadgen_run.h"

#include "build_paths.h"
#include "subprocess.h"

#ifndef LOADGEN_PATH
#error "LOADGEN_PATH must name the chat-loadgen binary"
#endif

namespace chat::loadgen::test {

LoadgenRun RunLoadgen(std::vector<std::string> args, std::chrono::milliseconds timeout) {
  std::vector<std::string> argv = {LOADGEN_PATH, "--json", "--quiet"};
  argv.insert(argv.end(), args.begin(), args.end());
  chat::test::Subprocess p(argv);
  LoadgenRun run;
  run.exit_code = p.Wait(timeout);
  run.output = p.output();
  std::string out = run.output;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  const auto nl = out.rfind('\n');
  run.last_line = nl == std::string::npos ? out : out.substr(nl + 1);
  return run;
}

}  // namespace chat::loadgen::test

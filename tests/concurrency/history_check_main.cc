// chat-history-check: the randomised history checker (tests/concurrency/history.h) as a program, for
// long runs: chat-history-check --seconds 600 --backend leveldb --seed 42 --threads 8
// Exits 0 if every invariant held, 1 with the violations printed otherwise, 2 on a usage error.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "history.h"

int main(int argc, char** argv) {
  chat::check::HistoryOptions o;
  o.phases = 1000000;
  o.seconds = 60;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "chat-history-check: %s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    try {
      if (arg == "--seconds") {
        o.seconds = std::stod(value());
      } else if (arg == "--seed") {
        o.seed = std::stoull(value());
      } else if (arg == "--threads") {
        o.threads = std::stoi(value());
      } else if (arg == "--ops") {
        o.ops_per_thread = std::stoi(value());
      } else if (arg == "--backend") {
        o.backend = value();
      } else if (arg == "--store-uri") {
        o.store_uri = value();
      } else if (arg == "--no-faults") {
        o.faults = false;
      } else {
        std::fprintf(stderr,
                     "usage: chat-history-check [--seconds N] [--seed N] [--threads N] [--ops N-per-phase] "
                     "[--backend mem|leveldb|postgres] [--store-uri URI] [--no-faults]\n");
        return 2;
      }
    } catch (const std::exception&) {
      std::fprintf(stderr, "chat-history-check: bad value for %s\n", arg.c_str());
      return 2;
    }
  }
  if ((o.backend != "mem" && o.backend != "leveldb" && !(o.backend == "postgres" && !o.store_uri.empty())) || o.threads < 1 || o.ops_per_thread < 1 || o.seconds <= 0) {
    std::fprintf(stderr, "chat-history-check: out-of-range option\n");
    return 2;
  }
  auto report = chat::check::RunHistoryCheck(o);
  std::printf("seed %llu, %s: %s\n", static_cast<unsigned long long>(o.seed), o.backend.c_str(),
              report.Summary().c_str());
  return report.violations.empty() ? 0 : 1;
}

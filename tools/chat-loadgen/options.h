// chat-loadgen's options: one plain struct with the defaults documented per field, and the command
// line parser (Boost.Program_options) that fills it. Usage errors never throw past ParseOptions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ws_url.h"

namespace chat::loadgen {

enum class Mode {
  kSteady,          // Open-loop sends at --rate for --duration (or --messages).
  kIdle,            // Connect every client and hold; server memory per connection.
  kReconnectStorm,  // Steady load; mid-run every client drops and reconnects at once.
  kOfflineSync,     // Steady load; a share of devices stays offline, then connects and syncs.
};

const char* ModeName(Mode mode);

// Who sends each message of the schedule.
enum class Senders {
  kRotate,  // Every online device in a group in turn (message k: the (k mod senders)th), evenly spaced.
  kAll,     // A uniformly random one of all online devices per message, drawn from the run's seed:
            // bursts of several messages from one device happen, as with real clients.
};

const char* SendersName(Senders senders);

struct Options {
  // The chatd WebSocket endpoint: the first of `urls`. Default: ws://127.0.0.1:8080/ws.
  WsUrl url;
  // Every node of the deployment (--url ws://A/ws,ws://B/ws,...): client i connects first to
  // urls[i % size] and, whenever its connection ends without being asked to, to the next one
  // (failover), then resumes and resyncs. Default: {url}.
  std::vector<WsUrl> urls;
  // Simulated devices, one user and one connection each. Default: 1000.
  std::uint32_t clients = 1000;
  // Members per group. Default: 100.
  std::uint32_t group_size = 100;
  // Groups; 0 means clients / group-size (at least 1). Default: 0.
  std::uint32_t groups = 0;
  // Aggregate sends per second over all senders. Default: 100.
  double rate = 100;
  // Seconds of sending (idle: of holding the connections). Default: 30.
  double duration_s = 30;
  // Messages to send in all; 0 means rate x duration. Default: 0.
  std::uint64_t messages = 0;
  Mode mode = Mode::kSteady;
  // Worker threads, each with its own io_context and its share of the connections.
  // Default: half the CPUs, at least 1 (the server under test needs the rest).
  unsigned threads = 1;
  // Print one JSON object as the last line of stdout (the human summary goes to stderr). Default: off.
  bool json = false;
  // File keeping users, session tokens and chats between runs, keyed by url, clients, group size and
  // groups; "" disables it. Default: ./chat-loadgen-state.json.
  std::string state_file = "./chat-loadgen-state.json";
  // Seconds to wait, after the last scheduled send, for answers and deliveries before counting what is
  // missing as lost. Default: 10.
  double timeout_s = 10;
  // offline-sync: share of devices kept offline during the run. Default: 0.1.
  double offline_share = 0.1;
  // Bytes per message body. Default: 64.
  std::uint32_t body_bytes = 64;
  // Devices connecting and signing in at the same time during setup. Default: 256.
  std::uint32_t setup_concurrency = 256;
  // No progress output on stderr. Default: off.
  bool quiet = false;
  // Who sends each message. Default: kRotate.
  Senders senders = Senders::kRotate;
  // Count the sender's own device among each message's recipients: its newMessage copy is expected,
  // timed and checked for loss like everyone else's. Default: off (the other members only).
  bool count_own_device = false;
  // Work started on this machine for the load phase, to measure with the box loaded on purpose:
  // "stress-ng:N" (Debian's stress-ng, N CPU workers; 0 = one per CPU) or "cmd:COMMAND" (run by
  // /bin/sh in a process group of its own); stopped when the load phase ends. Default: "" (none).
  std::string background_load;

  // The number of groups after applying the default.
  std::uint32_t EffectiveGroups() const;
  // Total messages of the run (0 in idle mode).
  std::uint64_t TotalMessages() const;
};

enum class ParseOutcome { kRun, kHelp, kUsageError };

// Fills *options from the command line. kUsageError with *error set (one line) for a bad flag or value;
// kHelp when --help was given (*error then holds the help text).
ParseOutcome ParseOptions(int argc, const char* const* argv, Options* options, std::string* error);

// True for a non-empty string of decimal digits (unsigned options would take "-1" as 2^32-1 through
// boost::lexical_cast: digits only).
bool AllDigits(const std::string& s);

}  // namespace chat::loadgen

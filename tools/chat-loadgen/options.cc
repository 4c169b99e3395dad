#include "options.h"

#include <boost/program_options.hpp>
#include <cmath>
#include <sstream>
#include <thread>

#include "background_load.h"
#include "libchat/version.h"

namespace chat::loadgen {
namespace po = boost::program_options;

namespace {

constexpr unsigned kHelpWidth = 100;
// chatd refuses groups above its maximum member limit (1000 by default).
constexpr std::uint32_t kMaxGroupSize = 1000;
constexpr unsigned kMaxThreads = 64;
constexpr std::uint32_t kMaxClients = 1'000'000;
constexpr std::size_t kMaxUrls = 64;

bool ParseMode(const std::string& text, Mode* mode) {
  for (Mode m : {Mode::kSteady, Mode::kIdle, Mode::kReconnectStorm, Mode::kOfflineSync}) {
    if (text == ModeName(m)) {
      *mode = m;
      return true;
    }
  }
  return false;
}

const char* kIntro =
    "chat-loadgen - the libchat performance instrument\n"
    "\n"
    "Drives a chatd server through protocol v1 like C real devices would: creates (or reuses) users, one\n"
    "device and one WebSocket each, and groups of M members; sends open-loop at an aggregate rate (the\n"
    "schedule never waits for answers, and latency counts from the scheduled time); and checks every\n"
    "expected delivery - each acknowledged message at every other member's device - for loss,\n"
    "duplication and order. It reads the server's /metrics before and after the run.\n"
    "\n"
    "It is meant for load-testing your own servers. It connects to 127.0.0.1 unless told otherwise;\n"
    "do not point it at servers you do not operate.\n"
    "\n"
    "Usage: chat-loadgen [--url ws://127.0.0.1:8080/ws[,ws://...]] [--clients C] [--group-size M] [--rate R]\n"
    "                    [--duration T] [--mode steady|idle|reconnect-storm|offline-sync] [options]\n"
    "\n"
    "Modes:\n"
    "  steady           send at --rate for --duration (or --messages); report rates, latency, loss\n"
    "  idle             connect and sign in all clients, hold them for --duration; report the server's\n"
    "                   memory per connection (RSS delta / connections)\n"
    "  reconnect-storm  steady load; halfway through, every client drops its connection and reconnects\n"
    "                   at once, resumes and resyncs; report the resync time; nothing may be lost\n"
    "  offline-sync     steady load while --offline-share of the devices stay offline; they then connect\n"
    "                   and sync; report the sync time; everything must arrive\n"
    "\n"
    "Sessions: signing in costs an Argon2id hash on the server, on purpose, so the users, session tokens\n"
    "and chats of a run are kept in --state (keyed by url, clients, group size and groups) and resumed\n"
    "by later runs. The file holds session tokens: keep it private (it is written with mode 0600).\n"
    "\n"
    "Exit codes: 0 ok; 1 failure (setup failed, a message was not acknowledged, or any delivery was\n"
    "lost, duplicated or out of order); 2 usage error.\n";

}  // namespace

const char* ModeName(Mode mode) {
  switch (mode) {
    case Mode::kSteady:
      return "steady";
    case Mode::kIdle:
      return "idle";
    case Mode::kReconnectStorm:
      return "reconnect-storm";
    case Mode::kOfflineSync:
      return "offline-sync";
  }
  return "steady";
}

const char* SendersName(Senders senders) { return senders == Senders::kAll ? "all" : "rotate"; }

std::uint32_t Options::EffectiveGroups() const {
  if (groups > 0) return groups;
  return std::max<std::uint32_t>(1, clients / group_size);
}

std::uint64_t Options::TotalMessages() const {
  if (mode == Mode::kIdle) return 0;
  if (messages > 0) return messages;
  return static_cast<std::uint64_t>(std::llround(rate * duration_s));
}

ParseOutcome ParseOptions(int argc, const char* const* argv, Options* options, std::string* error) {
  Options o;
  o.threads = std::max(1u, std::thread::hardware_concurrency() / 2);
  std::string url = "ws://127.0.0.1:8080/ws";
  std::string mode = "steady";
  std::string senders = "rotate";

  po::options_description run("Load", kHelpWidth, kHelpWidth / 2);
  run.add_options()
      ("help,h", "Print this help and exit.")
      ("version", "Print the version and exit.")
      ("url", po::value<std::string>(&url)->default_value(url),
       "chatd WebSocket endpoint (ws:// only). /metrics is read from the same host and port. Several "
       "nodes of one deployment: ws://A:P/ws,ws://B:P/ws,... (comma-separated): the clients are spread "
       "over them and fail over to the next when their node's connection ends.")
      ("clients", po::value<std::uint32_t>(&o.clients)->default_value(o.clients),
       "Simulated devices: one user, one device, one connection each.")
      ("group-size", po::value<std::uint32_t>(&o.group_size)->default_value(o.group_size),
       "Members per group (2 to 1000; above 100 the groups are created with a larger memberLimit).")
      ("groups", po::value<std::uint32_t>(&o.groups)->default_value(0),
       "Groups; 0 means clients / group-size. Members are spread so that each client is in about "
       "groups x group-size / clients groups.")
      ("rate", po::value<double>(&o.rate)->default_value(o.rate), "Aggregate messages sent per second.")
      ("duration", po::value<double>(&o.duration_s)->default_value(o.duration_s),
       "Seconds of sending (idle mode: of holding the connections).")
      ("messages", po::value<std::uint64_t>(&o.messages)->default_value(0),
       "Messages to send in all, instead of rate x duration.")
      ("mode", po::value<std::string>(&mode)->default_value(mode), "steady, idle, reconnect-storm or offline-sync.")
      ("threads", po::value<unsigned>(&o.threads)->default_value(o.threads),
       "Worker threads (each runs an event loop over its share of the connections).")
      ("json", po::bool_switch(&o.json), "Print the results as one JSON object, the last line of stdout.")
      ("state", po::value<std::string>(&o.state_file)->default_value(o.state_file),
       "File keeping users, tokens and chats between runs; \"\" to keep nothing.")
      ("timeout", po::value<double>(&o.timeout_s)->default_value(o.timeout_s),
       "Seconds to wait after the last send for answers and deliveries; what is still missing is lost.")
      ("offline-share", po::value<double>(&o.offline_share)->default_value(o.offline_share, "0.1"),
       "offline-sync: share of devices that stay offline during the run (0 < F < 1).")
      ("body-bytes", po::value<std::uint32_t>(&o.body_bytes)->default_value(o.body_bytes),
       "Bytes per message body (at least 48, the timing stamp).")
      ("setup-concurrency", po::value<std::uint32_t>(&o.setup_concurrency)->default_value(o.setup_concurrency),
       "Devices connecting and signing in at the same time during setup.")
      ("quiet", po::bool_switch(&o.quiet), "No progress output on stderr.")
      ("senders", po::value<std::string>(&senders)->default_value(senders),
       "Who sends each message: rotate (every device in a group in turn, evenly spaced) or all (a random "
       "one of all devices per message, so some send bursts).")
      ("count-own-device", po::bool_switch(&o.count_own_device),
       "Count the sender's own device as a recipient: its copy of each message is expected, timed and "
       "checked for loss too.")
      ("background-load", po::value<std::string>(&o.background_load)->default_value(""),
       "Load this machine on purpose during the load phase: stress-ng:N (Debian's stress-ng with N CPU "
       "workers; 0 = one per CPU) or cmd:COMMAND (any command, e.g. a parallel compile; run by /bin/sh in "
       "its own process group and stopped when the load phase ends).");

  po::variables_map vm;
  try {
    // Options only: a stray word (a forgotten '--') is a mistake, not the start of a 1000-client run.
    po::options_description all;
    all.add(run).add_options()("stray", po::value<std::vector<std::string>>());
    po::positional_options_description positional;
    positional.add("stray", -1);
    const po::parsed_options parsed = po::command_line_parser(argc, argv).options(all).positional(positional).run();
    for (const po::option& opt : parsed.options) {
      if (opt.string_key == "stray") {
        *error = "unexpected argument '" + opt.value.front() + "': chat-loadgen takes options only";
        return ParseOutcome::kUsageError;
      }
      const po::option_description* d = run.find_nothrow(opt.string_key, false);
      if (d == nullptr) continue;
      const auto* sem = d->semantic().get();
      const bool is_unsigned = dynamic_cast<const po::typed_value<std::uint32_t>*>(sem) != nullptr ||
                               dynamic_cast<const po::typed_value<std::uint64_t>*>(sem) != nullptr;
      for (const std::string& v : opt.value) {
        if (is_unsigned && !AllDigits(v)) {
          *error = "--" + opt.string_key + " wants a whole number, got '" + v + "'";
          return ParseOutcome::kUsageError;
        }
      }
    }
    po::store(parsed, vm);
    po::notify(vm);
  } catch (const po::error& e) {
    *error = e.what();
    return ParseOutcome::kUsageError;
  }
  if (vm.count("version")) {
    *error = std::string("chat-loadgen (libchat ") + LIBCHAT_VERSION_STRING + ")";
    return ParseOutcome::kHelp;
  }
  if (vm.count("help")) {
    std::ostringstream help;
    help << kIntro << "\n" << run;
    *error = help.str();
    return ParseOutcome::kHelp;
  }

  auto usage = [error](std::string message) {
    *error = std::move(message);
    return ParseOutcome::kUsageError;
  };
  for (std::size_t start = 0; start <= url.size();) {
    const std::size_t comma = std::min(url.find(',', start), url.size());
    auto parsed = ParseWsUrl(url.substr(start, comma - start), error);
    if (!parsed) return ParseOutcome::kUsageError;
    o.urls.push_back(*parsed);
    start = comma + 1;
  }
  if (o.urls.size() > kMaxUrls) return usage("--url names at most 64 nodes");
  o.url = o.urls.front();
  if (!ParseMode(mode, &o.mode)) return usage("--mode must be steady, idle, reconnect-storm or offline-sync");
  if (o.clients < 1 || o.clients > kMaxClients) return usage("--clients must be from 1 to 1000000");
  if (o.mode != Mode::kIdle) {
    if (o.group_size < 2 || o.group_size > kMaxGroupSize) return usage("--group-size must be from 2 to 1000");
    if (o.group_size > o.clients) return usage("--group-size cannot exceed --clients");
    if (!(o.rate > 0) || !std::isfinite(o.rate)) return usage("--rate must be a positive number");
    if (o.messages == 0 && !(o.duration_s > 0)) return usage("--duration must be positive (or give --messages)");
  } else if (!(o.duration_s >= 0)) {
    return usage("--duration must not be negative");
  }
  if (o.group_size < 2 || o.group_size > o.clients) {
    // Idle runs still create the same groups as steady runs of the same shape (they share the state).
    o.group_size = std::max<std::uint32_t>(2, std::min(o.group_size, o.clients));
  }
  if (o.threads < 1 || o.threads > kMaxThreads) return usage("--threads must be from 1 to 64");
  if (!(o.timeout_s >= 0)) return usage("--timeout must not be negative");
  if (o.mode == Mode::kOfflineSync && !(o.offline_share > 0 && o.offline_share < 1)) {
    return usage("--offline-share must be between 0 and 1 (exclusive)");
  }
  if (o.body_bytes < 48 || o.body_bytes > 60000) return usage("--body-bytes must be from 48 to 60000");
  if (senders == "all") {
    o.senders = Senders::kAll;
  } else if (senders != "rotate") {
    return usage("--senders must be rotate or all");
  }
  if (!o.background_load.empty()) {
    std::vector<std::string> ignored;
    std::string why;
    if (!BackgroundCommand(o.background_load, &ignored, &why)) return usage("--background-load: " + why);
    if (o.mode == Mode::kIdle) return usage("--background-load needs a mode that sends (not idle)");
  }
  if (o.setup_concurrency < 1 || o.setup_concurrency > 100000) {
    return usage("--setup-concurrency must be from 1 to 100000");
  }
  if (!(o.duration_s <= 86400 * 7)) return usage("--duration must be at most a week (604800 seconds)");
  *options = std::move(o);
  return ParseOutcome::kRun;
}

bool AllDigits(const std::string& s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos; }

}  // namespace chat::loadgen

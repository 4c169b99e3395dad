// chat-migrate: schema migrations and whole-store moves for libchat stores. A thin main(): flags ->
// URIs -> Registry -> one command (commands.h). Exit codes: 0 ok, 1 failure, 2 usage.
#include <algorithm>
#include <boost/program_options.hpp>
#include <iostream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "commands.h"
#include "libchat/registry.h"
#include "libchat/version.h"

namespace po = boost::program_options;

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

constexpr const char* kUsage = R"(Usage: chat-migrate COMMAND [OPTIONS]

Schema migrations and whole-store moves for libchat stores. Run it with chatd stopped: a LevelDB
store can be opened by one process at a time (a PostgreSQL store's schema steps take a lock instead).

Commands:
  status --store URI            the store's schema version and the migrations `up` would apply
  up --store URI [--to-version N]
                                apply the pending migrations, one atomic step at a time
  down --store URI --to-version N
                                revert schema steps down to version N (postgres://; 0 drops every table)
  versions --store URI          the store's schema version and every step this build knows
  export --from URI [--out FILE]
                                write every record as JSON Lines to FILE (default: standard output)
  import --to URI [--in FILE]   read a dump from FILE (default: standard input) into a fresh store
  copy --from URI --to URI      export piped into import, in one process (e.g. leveldb:// -> postgres://),
                                verified by the SHA-256 of both exports; rerun into a store that already
                                holds the same content, it does nothing

An import target must be fresh. A directory target (leveldb:///DIR) must be absent or empty: the
store is built beside it and renamed into place only once complete, so a failed import leaves
nothing behind. Bad input stops the import with its line number. The dump format is described in
docs/storage.md ("Export format and schema versions").

Examples:
  chat-migrate status --store leveldb:///var/lib/chatd/store
  chat-migrate export --from leveldb:///var/lib/chatd/store > dump.jsonl
  chat-migrate import --to leveldb:///var/lib/chatd/store.new < dump.jsonl
  chat-migrate copy --from leveldb:///var/lib/chatd/store --to leveldb:///srv/chat/store
  chat-migrate copy --from leveldb:///var/lib/chatd/store --to postgres://chatd@db1:5432/chat
  chat-migrate versions --store postgres://chatd@db1:5432/chat

Exit status: 0 success, 1 failure (one line on standard error), 2 usage error.
)";

// The options each command takes; the first group is required.
struct CommandSpec {
  std::vector<std::string> required;
  std::vector<std::string> optional;
};

const std::map<std::string, CommandSpec>& Commands() {
  // clang-format off
  static const std::map<std::string, CommandSpec> commands = {
      {"status", {{"store"}, {}}},
      {"up", {{"store"}, {"to-version"}}},
      {"down", {{"store", "to-version"}, {}}},
      {"versions", {{"store"}, {}}},
      {"export", {{"from"}, {"out"}}},
      {"import", {{"to"}, {"in"}}},
      {"copy", {{"from", "to"}, {}}},
  };
  // clang-format on
  return commands;
}

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses a store URI flag; an unparsable URI or a scheme this build does not know is a usage error.
chat::Uri StoreUri(const chat::Registry& registry, const po::variables_map& vm, const std::string& flag) {
  const auto text = vm[flag].as<std::string>();
  auto uri = chat::Uri::Parse(text);
  if (!uri.ok()) throw UsageError("--" + flag + ": " + uri.error().message());
  const auto schemes = registry.StoreSchemes();
  std::string known;
  for (const auto& s : schemes) {
    if (s == uri->scheme) return *uri;
    known += (known.empty() ? "" : ", ") + s + "://";
  }
  throw UsageError("--" + flag + ": no store backend for '" + uri->scheme + "://' in this build (built in: " + known +
                   ")");
}

void PrintJson(std::ostream& out, const nlohmann::ordered_json& j) { out << j.dump() << std::endl; }

}  // namespace

int main(int argc, char** argv) {
  // Dumps are large: do not pay for synchronising C++ streams with stdio on every line.
  std::ios::sync_with_stdio(false);

  po::options_description visible("Options");
  // clang-format off
  visible.add_options()
      ("help,h", "show this help and exit")
      ("version", "print the libchat version and exit")
      ("json", "print the result (or the error) as one JSON object, for scripts")
      ("store", po::value<std::string>()->value_name("URI"), "the store (status, up, down, versions)")
      ("to-version", po::value<int>()->value_name("N"), "up: the version to reach (default: this build's); down: required")
      ("from", po::value<std::string>()->value_name("URI"), "the source store (export, copy)")
      ("to", po::value<std::string>()->value_name("URI"), "the fresh target store (import, copy)")
      ("out", po::value<std::string>()->value_name("FILE"), "export: write the dump to FILE, not standard output")
      ("in", po::value<std::string>()->value_name("FILE"), "import: read the dump from FILE, not standard input");
  // clang-format on
  po::options_description all;
  all.add(visible).add_options()("command", po::value<std::string>());
  po::positional_options_description positional;
  positional.add("command", 1);

  std::string command;
  bool json = false;
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), vm);
    po::notify(vm);
    json = vm.count("json") > 0;
    if (vm.count("help")) {
      std::cout << kUsage << "\n" << visible << std::flush;
      return kExitOk;
    }
    if (vm.count("version")) {
      std::cout << "chat-migrate (libchat " << LIBCHAT_VERSION_STRING << ")" << std::endl;
      return kExitOk;
    }
    if (!vm.count("command")) throw UsageError("no command given");
    command = vm["command"].as<std::string>();
    auto spec = Commands().find(command);
    if (spec == Commands().end()) throw UsageError("unknown command '" + command + "'");
    for (const auto& flag : spec->second.required) {
      if (!vm.count(flag)) throw UsageError(command + " needs --" + flag);
    }
    for (const char* flag : {"store", "from", "to", "in", "out", "to-version"}) {
      const auto& s = spec->second;
      if (vm.count(flag) && std::count(s.required.begin(), s.required.end(), flag) == 0 &&
          std::count(s.optional.begin(), s.optional.end(), flag) == 0) {
        throw UsageError(command + " does not take --" + flag);
      }
    }
  } catch (const std::exception& e) {  // po::error and UsageError: both mistakes in the command line.
    std::cerr << "chat-migrate: " << e.what() << "\nTry 'chat-migrate --help'." << std::endl;
    if (json) {
      PrintJson(std::cout,
                {{"ok", false}, {"command", command}, {"error", {{"code", "usage"}, {"message", e.what()}}}});
    }
    return kExitUsage;
  }

  // An export to standard output owns it: everything else goes to standard error.
  const bool data_on_stdout = command == "export" && !vm.count("out");
  std::ostream& report_out = data_on_stdout ? std::cerr : std::cout;

  const chat::Registry& registry = chat::Registry::Default();
  chat::Result<chat::migrate::Report> report = chat::Status::Internal("no command ran");
  try {
    auto opt = [&](const char* flag) { return vm.count(flag) ? vm[flag].as<std::string>() : std::string(); };
    const int to_version = vm.count("to-version") ? vm["to-version"].as<int>() : -1;
    if (vm.count("to-version") && to_version < 0) throw UsageError("--to-version must not be negative");
    if (command == "status") {
      report = chat::migrate::RunStatus(registry, StoreUri(registry, vm, "store"));
    } else if (command == "up") {
      report = chat::migrate::RunUp(registry, StoreUri(registry, vm, "store"), json ? std::cerr : std::cout,
                                    to_version);
    } else if (command == "down") {
      report = chat::migrate::RunDown(registry, StoreUri(registry, vm, "store"), json ? std::cerr : std::cout,
                                      to_version);
    } else if (command == "versions") {
      report = chat::migrate::RunVersions(registry, StoreUri(registry, vm, "store"));
    } else if (command == "export") {
      report = chat::migrate::RunExport(registry, StoreUri(registry, vm, "from"), opt("out"));
    } else if (command == "import") {
      report = chat::migrate::RunImport(registry, StoreUri(registry, vm, "to"), opt("in"));
    } else if (command == "copy") {
      report =
          chat::migrate::RunCopy(registry, StoreUri(registry, vm, "from"), StoreUri(registry, vm, "to"));
    }
  } catch (const UsageError& e) {
    std::cerr << "chat-migrate: " << e.what() << "\nTry 'chat-migrate --help'." << std::endl;
    if (json) {
      PrintJson(report_out,
                {{"ok", false}, {"command", command}, {"error", {{"code", "usage"}, {"message", e.what()}}}});
    }
    return kExitUsage;
  } catch (const std::exception& e) {
    // libchat reports errors as Status; anything thrown here (e.g. out of memory) is a failure all the same.
    report = chat::Status::Internal(e.what());
  }

  if (!report.ok()) {
    const chat::Status& s = report.error();
    std::cerr << "chat-migrate: " << command << ": " << s.ToString() << std::endl;
    if (json) {
      PrintJson(report_out,
                {{"ok", false},
                 {"command", command},
                 {"error", {{"code", std::string(chat::StatusCodeName(s.code()))}, {"message", s.message()}}}});
    }
    return kExitFailure;
  }
  if (json) {
    PrintJson(report_out, report->json);
  } else {
    report_out << report->text << std::flush;
  }
  return kExitOk;
}

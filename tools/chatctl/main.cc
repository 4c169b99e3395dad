// chatctl: the operator's tool for chatd. A thin main(): finds the command in the table (cli.h),
// parses its options, runs it, and maps the outcome to an exit status: 0 ok, 1 failure, 2 usage.
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <set>

#include "cli.h"
#include "libchat/version.h"
#include "output.h"

namespace {

using chat::ctl::Command;
using chat::ctl::Invocation;
using chat::ctl::Json;
using chat::ctl::UsageError;
namespace po = boost::program_options;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr unsigned kHelpWidth = 100;

const std::vector<Command>& Commands() {
  static const std::vector<Command> commands = [] {
    std::vector<Command> c;
    chat::ctl::AddUserCommands(&c);
    chat::ctl::AddChatCommands(&c);
    chat::ctl::AddOperationCommands(&c);
    chat::ctl::AddSpamCommands(&c);
    chat::ctl::AddAccountCommands(&c);
    return c;
  }();
  return commands;
}

std::string Title(const Command& c) { return c.name.empty() ? c.group : c.group + " " + c.name; }

// Global options take a value: the command-word scan must skip that value.
const std::set<std::string>& GlobalValueFlags() {
  static const std::set<std::string> flags = {"--admin-url", "--admin-token", "--admin-token-file", "--timeout"};
  return flags;
}

void AddGlobalOptions(po::options_description& o) {
  const char* env_url = std::getenv("CHATCTL_ADMIN_URL");
  o.add_options()
      ("help,h", "show help and exit")
      ("json", "print the result as JSON for scripts (errors too, on standard output)")
      ("admin-url", po::value<std::string>()->value_name("URL")->default_value(
           env_url != nullptr && *env_url != '\0' ? env_url : "http://127.0.0.1:8081"),
       "chatd's admin API (or $CHATCTL_ADMIN_URL)")
      ("admin-token-file", po::value<std::string>()->value_name("FILE"),
       "read the admin token from FILE (or $CHATCTL_ADMIN_TOKEN_FILE)")
      ("admin-token", po::value<std::string>()->value_name("TOKEN"),
       "the admin token itself (or $CHATCTL_ADMIN_TOKEN); visible to other users in the process list, "
       "prefer a file or the environment")
      ("timeout", po::value<int>()->value_name("SECONDS")->default_value(60), "give up on a request after this long");
}

void PrintOverview(std::ostream& out) {
  out << "Usage: chatctl COMMAND [SUBCOMMAND] [ARGS] [OPTIONS]\n\n"
         "The operator's tool for chatd. Talks to chatd's admin API (--admin-url, default\n"
         "http://127.0.0.1:8081; every request carries the admin token) and, for restore, with chatd\n"
         "stopped, to the store's files. Tables for people; --json for scripts.\n\nCommands:\n";
  std::size_t width = 0;
  for (const auto& c : Commands()) width = std::max(width, Title(c).size() + c.args.size() + 1);
  for (const auto& c : Commands()) {
    const std::string head = Title(c) + (c.args.empty() ? "" : " " + c.args);
    out << "  " << head << std::string(width - head.size() + 2, ' ') << c.summary << '\n';
  }
  po::options_description global("Global options", kHelpWidth, kHelpWidth / 2);
  AddGlobalOptions(global);
  out << '\n' << global
      << "\nRun 'chatctl COMMAND [SUBCOMMAND] --help' for a command's options. See docs/admin.md.\n"
         "Exit status: 0 success, 1 failure (one line on standard error), 2 usage error.\n";
}

int Usage(const std::string& message, bool json, const std::string& hint = "chatctl --help") {
  std::cerr << "chatctl: " << message << "\nTry '" << hint << "'." << std::endl;
  if (json) std::cout << Json{{"error", {{"code", "usage"}, {"message", message}}}}.dump() << std::endl;
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> rest;  // argv without the command words.
  std::vector<std::string> words;
  bool json = false;
  bool help = false;
  // The command words are the first arguments that are neither options nor the values of global
  // options: the group, and then the subcommand if the group has subcommands (`stats` has none, so
  // what follows it is its own).
  auto has_subcommands = [](const std::string& group) {
    for (const auto& c : Commands()) {
      if (c.group == group) return !c.name.empty();
    }
    return true;  // Unknown: reported below.
  };
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--json") json = true;
    if (arg == "--help" || arg == "-h") help = true;
    if (!arg.empty() && arg[0] == '-') {
      rest.push_back(arg);
      if (GlobalValueFlags().count(arg) && i + 1 < argc) rest.push_back(argv[++i]);
      continue;
    }
    const bool wanted = words.empty() || (words.size() == 1 && has_subcommands(words[0]));
    if (wanted) {
      words.push_back(arg);
    } else {
      rest.push_back(arg);
    }
  }
  if (words.empty()) {
    if (help) {
      PrintOverview(std::cout);
      return kExitOk;
    }
    if (rest.size() == 1 && rest[0] == "--version") {
      std::cout << "chatctl (libchat " << LIBCHAT_VERSION_STRING << ")" << std::endl;
      return kExitOk;
    }
    PrintOverview(std::cerr);
    return kExitUsage;
  }

  // Find the command: a group with subcommands takes the second word; a one-word command leaves it as
  // a positional argument.
  const Command* command = nullptr;
  bool group_known = false;
  for (const auto& c : Commands()) {
    if (c.group != words[0]) continue;
    group_known = true;
    if (c.name.empty() || (words.size() > 1 && c.name == words[1])) {
      command = &c;
      break;
    }
  }
  if (!group_known) return Usage("unknown command '" + words[0] + "'", json);
  if (command == nullptr) {
    std::string subs;
    for (const auto& c : Commands()) {
      if (c.group == words[0]) subs += (subs.empty() ? "" : ", ") + c.name;
    }
    const std::string message = words.size() > 1 ? "unknown command '" + words[0] + " " + words[1] + "'"
                                                  : "'" + words[0] + "' needs a subcommand";
    if (help && words.size() == 1) {
      std::cout << "Subcommands of " << words[0] << ": " << subs << "\nRun 'chatctl " << words[0]
                << " SUBCOMMAND --help' for one of them.\n";
      return kExitOk;
    }
    return Usage(message + " (one of: " + subs + ")", json);
  }
  const std::string title = Title(*command);

  po::options_description own("Options of " + title, kHelpWidth, kHelpWidth / 2);
  command->options(own);
  po::options_description global("Global options", kHelpWidth, kHelpWidth / 2);
  AddGlobalOptions(global);
  po::options_description all;
  all.add(own).add(global).add_options()("args", po::value<std::vector<std::string>>());
  po::positional_options_description positional;
  positional.add("args", -1);

  po::variables_map vm;
  std::vector<std::string> args;
  try {
    po::store(po::command_line_parser(rest).options(all).positional(positional).run(), vm);
    if (vm.count("help")) {
      std::cout << "Usage: chatctl " << title << (command->args.empty() ? "" : " " + command->args)
                << " [OPTIONS]\n\n"
                << command->summary << ".\n"
                << (command->details.empty() ? "" : command->details + "\n") << '\n'
                << own << '\n'
                << global;
      return kExitOk;
    }
    po::notify(vm);
    if (vm.count("args")) args = vm["args"].as<std::vector<std::string>>();
    if (args.size() != command->positional) {
      throw UsageError(command->positional == 0
                           ? title + " takes no arguments, got '" + args[0] + "'"
                           : title + " needs " + command->args + (args.size() > command->positional
                                                                      ? ", got extra '" + args.back() + "'"
                                                                      : ""));
    }
    if (vm["timeout"].as<int>() <= 0) throw UsageError("--timeout must be at least 1 second");
  } catch (const std::exception& e) {  // po::error and UsageError: mistakes in the command line.
    return Usage(e.what(), json, "chatctl " + title + " --help");
  }

  Invocation inv(std::move(vm), std::move(args), std::cout, std::cerr);
  chat::Status s;
  try {
    s = command->run(inv);
  } catch (const UsageError& e) {
    return Usage(e.what(), json, "chatctl " + title + " --help");
  } catch (const std::exception& e) {
    // E.g. a response of an unexpected shape from another version of chatd.
    s = chat::Status::Internal(std::string("unexpected failure: ") + e.what());
  }
  std::cout.flush();
  if (!s.ok()) {
    std::cerr << "chatctl: " << title << ": " << chat::ctl::TerminalSafe(s.ToString()) << std::endl;
    if (json) {
      std::cout << Json{{"error", {{"code", std::string(chat::StatusCodeName(s.code()))}, {"message", s.message()}}}}
                       .dump()
                << std::endl;
    }
    return kExitFailure;
  }
  return kExitOk;
}

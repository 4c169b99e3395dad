// chatctl's command table and what a command runs with. main.cc parses the command line into an
// Invocation and runs the matching Command; each *_commands.cc file contributes its commands.
#pragma once

#include <boost/program_options.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "admin_client.h"
#include "libchat/status.h"

namespace chat::ctl {

namespace po = boost::program_options;
using Json = nlohmann::ordered_json;

// A mistake in the command line: exit status 2, with a pointer to --help.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What a command runs with.
class Invocation {
 public:
  Invocation(po::variables_map vm, std::vector<std::string> args, std::ostream& out, std::ostream& err)
      : vm_(std::move(vm)), args_(std::move(args)), out_(out), err_(err) {}

  bool json() const { return vm_.count("json") > 0; }
  bool Has(const std::string& flag) const { return vm_.count(flag) > 0; }
  template <typename T>
  T Get(const std::string& flag) const {
    return vm_[flag].as<T>();
  }
  // The command's positional arguments (as many as its Command::positional says).
  const std::vector<std::string>& args() const { return args_; }
  std::ostream& out() { return out_; }
  std::ostream& err() { return err_; }

  // The admin API client, made on first use from --admin-url and the token (--admin-token,
  // --admin-token-file, $CHATCTL_ADMIN_TOKEN or $CHATCTL_ADMIN_TOKEN_FILE, in that order).
  // UsageError if no token is given or the URL is malformed.
  AdminClient& admin();

  // Prints `j` as one line of JSON; returns OK, so that a command can end with it.
  Status PrintJson(const Json& j) {
    out_ << j.dump(-1, ' ', false, Json::error_handler_t::replace) << '\n';
    return Status::Ok();
  }

 private:
  po::variables_map vm_;
  std::vector<std::string> args_;
  std::ostream& out_;
  std::ostream& err_;
  std::unique_ptr<AdminClient> admin_;
};

struct Command {
  std::string group;  // "users"
  std::string name;   // "list"; empty for a command of one word ("stats")
  std::string args;   // Positional arguments for the synopsis, e.g. "USER".
  std::size_t positional = 0;
  std::string summary;  // One line.
  std::string details;  // More help, may be empty.
  // Adds the command's own options (the global ones are added by main).
  std::function<void(po::options_description&)> options;
  // Runs it. A non-OK Status is a runtime failure (exit 1); UsageError a usage error (exit 2).
  std::function<Status(Invocation&)> run;
};

// The commands of each area.
void AddUserCommands(std::vector<Command>* commands);
void AddChatCommands(std::vector<Command>* commands);
void AddOperationCommands(std::vector<Command>* commands);
void AddSpamCommands(std::vector<Command>* commands);
// users reset-password|delete, chats delete, invites create|list|revoke (accounts_commands.cc).
void AddAccountCommands(std::vector<Command>* commands);

}  // namespace chat::ctl

#include "cli.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace chat::ctl {
namespace {

// A token file holds the token and perhaps a final newline.
std::string ReadTokenFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UsageError("cannot read the admin token file '" + path + "'");
  std::stringstream s;
  s << in.rdbuf();
  std::string token = s.str();
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
  if (token.empty()) throw UsageError("the admin token file '" + path + "' is empty");
  return token;
}

std::string AdminToken(const po::variables_map& vm) {
  if (vm.count("admin-token")) return vm["admin-token"].as<std::string>();
  if (vm.count("admin-token-file")) return ReadTokenFile(vm["admin-token-file"].as<std::string>());
  if (const char* t = std::getenv("CHATCTL_ADMIN_TOKEN"); t != nullptr && *t != '\0') return t;
  if (const char* f = std::getenv("CHATCTL_ADMIN_TOKEN_FILE"); f != nullptr && *f != '\0') return ReadTokenFile(f);
  throw UsageError(
      "no admin token: pass --admin-token-file FILE (or set CHATCTL_ADMIN_TOKEN or CHATCTL_ADMIN_TOKEN_FILE)");
}

}  // namespace

AdminClient& Invocation::admin() {
  if (!admin_) {
    auto c = AdminClient::Create(Get<std::string>("admin-url"), AdminToken(vm_), Get<int>("timeout"));
    if (!c.ok()) throw UsageError("--admin-url: " + c.error().message());
    admin_ = std::move(*c);
  }
  return *admin_;
}

}  // namespace chat::ctl

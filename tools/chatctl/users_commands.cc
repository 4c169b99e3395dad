// users list|show|create|disable|enable|ban|unban|bans|devices|revoke|provision
#include <fstream>
#include <iostream>

#include "cli.h"
#include "output.h"
#include "paging.h"

namespace chat::ctl {
namespace {

// The password from --password-file (its first line) or --password-stdin: never from the command
// line, where other users of the machine could read it.
std::string ReadPassword(Invocation& inv) {
  std::string password;
  if (inv.Has("password-file") == inv.Has("password-stdin")) {
    throw UsageError("give the password with exactly one of --password-file FILE and --password-stdin");
  }
  if (inv.Has("password-file")) {
    const auto path = inv.Get<std::string>("password-file");
    std::ifstream in(path);
    if (!in || !std::getline(in, password)) throw UsageError("cannot read a password from '" + path + "'");
  } else if (!std::getline(std::cin, password)) {
    throw UsageError("no password on standard input");
  }
  if (!password.empty() && password.back() == '\r') password.pop_back();
  return password;
}

void AddPasswordOptions(po::options_description& o) {
  o.add_options()
      ("password-file", po::value<std::string>()->value_name("FILE"), "read the password from the first line of FILE")
      ("password-stdin", "read the password from the first line of standard input");
}

void PrintUser(Invocation& inv, const Json& u) {
  std::vector<std::pair<std::string, std::string>> fields = {
      {"id", std::to_string(u["id"].get<std::uint64_t>())},
      {"username", u["username"]},
      {"display name", u["displayName"]},
      {"email", u["email"].get<std::string>().empty() ? "-" : u["email"].get<std::string>()},
      {"created", FormatTime(u["createdAt"])},
      {"disabled", u["disabled"].get<bool>() ? "yes" : "no"},
      {"last seen shown to", u["lastSeenVisibility"]},
  };
  if (u.value("banned", false)) {
    fields.emplace_back("banned", FormatTime(u["bannedAt"]) + ": " + u["banReason"].get<std::string>());
  }
  if (u.contains("devices")) fields.emplace_back("devices", std::to_string(u["devices"].get<std::uint64_t>()));
  if (u.contains("chats")) fields.emplace_back("chats", std::to_string(u["chats"].get<std::uint64_t>()));
  PrintFields(inv.out(), fields);
}

Status ListUsers(Invocation& inv) {
  LIBCHAT_ASSIGN_OR_RETURN(Json page, FetchPages(inv, "/v1/users", "users"));
  if (inv.json()) return inv.PrintJson(page);
  Table t({"ID", "USERNAME", "DISPLAY NAME", "CREATED", "DISABLED"});
  for (const auto& u : page["users"]) {
    t.Row({std::to_string(u["id"].get<std::uint64_t>()), u["username"], u["displayName"], FormatTime(u["createdAt"]),
           u["disabled"].get<bool>() ? "yes" : "no"});
  }
  t.Print(inv.out());
  PrintMoreHint(inv, page);
  return Status::Ok();
}

Status ShowUser(Invocation& inv) {
  LIBCHAT_ASSIGN_OR_RETURN(Json u, FetchUser(inv, inv.args()[0]));
  if (inv.json()) return inv.PrintJson(u);
  PrintUser(inv, u);
  return Status::Ok();
}

Status CreateUser(Invocation& inv) {
  Json body = {{"username", inv.args()[0]}, {"password", ReadPassword(inv)}};
  if (inv.Has("display-name")) body["displayName"] = inv.Get<std::string>("display-name");
  if (inv.Has("email")) body["email"] = inv.Get<std::string>("email");
  LIBCHAT_ASSIGN_OR_RETURN(Json u, inv.admin().Post("/v1/users", body));
  if (inv.json()) return inv.PrintJson(u);
  inv.out() << "created user " << u["id"].get<std::uint64_t>() << " (" << u["username"].get<std::string>() << ")\n";
  return Status::Ok();
}

Status SetDisabled(Invocation& inv, bool disable) {
  LIBCHAT_ASSIGN_OR_RETURN(Json found, FetchUser(inv, inv.args()[0]));
  const std::string id = std::to_string(found["id"].get<std::uint64_t>());
  LIBCHAT_ASSIGN_OR_RETURN(Json u, inv.admin().Post("/v1/users/" + id + (disable ? "/disable" : "/enable"), Json::object()));
  if (inv.json()) return inv.PrintJson(u);
  inv.out() << (disable ? "disabled " : "enabled ") << u["username"].get<std::string>() << " (" << id << ")"
            << (disable ? "; all of its sessions were revoked\n" : "; it can log in again\n");
  return Status::Ok();
}

Status Ban(Invocation& inv) {
  const auto reason = inv.Get<std::string>("reason");
  LIBCHAT_ASSIGN_OR_RETURN(Json found, FetchUser(inv, inv.args()[0]));
  const std::string id = std::to_string(found["id"].get<std::uint64_t>());
  LIBCHAT_ASSIGN_OR_RETURN(Json u, inv.admin().Post("/v1/users/" + id + "/ban", Json{{"reason", reason}}));
  if (inv.json()) return inv.PrintJson(u);
  inv.out() << "banned " << u["username"].get<std::string>() << " (" << id
            << "); its live connections were closed and it cannot log in until unbanned\n";
  return Status::Ok();
}

Status Unban(Invocation& inv) {
  LIBCHAT_ASSIGN_OR_RETURN(Json found, FetchUser(inv, inv.args()[0]));
  const std::string id = std::to_string(found["id"].get<std::uint64_t>());
  LIBCHAT_ASSIGN_OR_RETURN(Json u, inv.admin().Post("/v1/users/" + id + "/unban", Json::object()));
  if (inv.json()) return inv.PrintJson(u);
  inv.out() << (found.value("banned", false) ? "unbanned " : "was not banned: ") << u["username"].get<std::string>()
            << " (" << id << ")" << (found.value("banned", false) ? "; it can log in again\n" : "\n");
  return Status::Ok();
}

Status ListBans(Invocation& inv) {
  LIBCHAT_ASSIGN_OR_RETURN(Json page, FetchPages(inv, "/v1/bans", "bans"));
  if (inv.json()) return inv.PrintJson(page);
  Table t({"ID", "USERNAME", "BANNED", "REASON"});
  for (const auto& b : page["bans"]) {
    t.Row({std::to_string(b["userId"].get<std::uint64_t>()), b["username"].is_string() ? b["username"].get<std::string>() : "-",
           FormatTime(b["bannedAt"]), b["banReason"]});
  }
  t.Print(inv.out());
  PrintMoreHint(inv, page);
  return Status::Ok();
}

Status ListDevices(Invocation& inv) {
  LIBCHAT_ASSIGN_OR_RETURN(Json found, FetchUser(inv, inv.args()[0]));
  const std::string id = std::to_string(found["id"].get<std::uint64_t>());
  LIBCHAT_ASSIGN_OR_RETURN(Json r, inv.admin().Get("/v1/users/" + id + "/devices"));
  if (inv.json()) return inv.PrintJson(r);
  Table t({"ID", "KIND", "NAME", "SESSION", "PUSH", "CREATED", "LAST SEEN"});
  for (const auto& d : r["devices"]) {
    t.Row({std::to_string(d["id"].get<std::uint64_t>()), d["kind"], d["name"],
           d["hasSession"].get<bool>() ? "active" : "revoked",
           d["pushProvider"].get<std::string>().empty() ? "-" : d["pushProvider"].get<std::string>(),
           FormatTime(d["createdAt"]), FormatTime(d["lastSeen"])});
  }
  t.Print(inv.out());
  return Status::Ok();
}

Status Revoke(Invocation& inv) {
  if (inv.Has("device") == inv.Has("all")) throw UsageError("users revoke needs exactly one of --device ID and --all");
  LIBCHAT_ASSIGN_OR_RETURN(Json found, FetchUser(inv, inv.args()[0]));
  const std::string id = std::to_string(found["id"].get<std::uint64_t>());
  Json body = inv.Has("all") ? Json{{"all", true}} : Json{{"deviceId", inv.Get<std::uint64_t>("device")}};
  LIBCHAT_ASSIGN_OR_RETURN(Json r, inv.admin().Post("/v1/users/" + id + "/revoke", body));
  if (inv.json()) return inv.PrintJson(r);
  std::string ids;
  for (const auto& d : r["revoked"]) ids += (ids.empty() ? "" : ", ") + std::to_string(d.get<std::uint64_t>());
  inv.out() << "revoked " << r["revoked"].size() << " session(s) of " << found["username"].get<std::string>()
            << (ids.empty() ? "" : ": device " + ids) << '\n';
  return Status::Ok();
}

Status Provision(Invocation& inv) {
  Json body = {{"prefix", inv.Get<std::string>("prefix")},
               {"count", inv.Get<std::uint64_t>("count")},
               {"password", ReadPassword(inv)},
               {"deviceKind", inv.Get<std::string>("device-kind")}};
  LIBCHAT_ASSIGN_OR_RETURN(Json r, inv.admin().Post("/v1/provision", body));
  if (inv.json()) return inv.PrintJson(r);
  inv.out() << "provisioned " << r["count"].get<std::uint64_t>() << " users " << r["prefix"].get<std::string>()
            << "-0.." << r["prefix"].get<std::string>() << "-" << r["count"].get<std::uint64_t>() - 1 << " ("
            << r["created"].get<std::uint64_t>() << " created, " << r["reused"].get<std::uint64_t>()
            << " reused); their session tokens are in the --json output\n";
  return Status::Ok();
}

}  // namespace

void AddUserCommands(std::vector<Command>* commands) {
  const std::string user_arg = "USER is a numeric user id or a username (--by-name: always a username).";
  auto by_name = [](po::options_description& o) {
    o.add_options()("by-name", "treat USER as a username even if it is all digits");
  };
  commands->push_back({"users", "list", "", 0, "list users, a page at a time", "", AddPageOptions, ListUsers});
  commands->push_back({"users", "show", "USER", 1, "show a user with counts of devices and chats", user_arg, by_name,
                       ShowUser});
  commands->push_back({"users", "create", "USERNAME", 1, "create a user",
                       "The password is read from a file or standard input, never from the command line.",
                       [](po::options_description& o) {
                         AddPasswordOptions(o);
                         o.add_options()
                             ("display-name", po::value<std::string>()->value_name("TEXT"), "display name (default: the username)")
                             ("email", po::value<std::string>()->value_name("ADDRESS"), "e-mail address");
                       },
                       CreateUser});
  commands->push_back({"users", "disable", "USER", 1, "disable a user and revoke all of its sessions", user_arg,
                       by_name, [](Invocation& inv) { return SetDisabled(inv, true); }});
  commands->push_back({"users", "enable", "USER", 1, "enable a disabled user (it logs in again)", user_arg, by_name,
                       [](Invocation& inv) { return SetDisabled(inv, false); }});
  commands->push_back({"users", "ban", "USER", 1, "ban a user: close its connections at once and refuse its logins",
                       user_arg + "\nThe reason is recorded with the ban and in the admin audit log.",
                       [by_name](po::options_description& o) {
                         by_name(o);
                         o.add_options()("reason", po::value<std::string>()->value_name("TEXT")->required(),
                                         "why the user is banned (shown to admins only)");
                       },
                       Ban});
  commands->push_back({"users", "unban", "USER", 1, "lift a user's ban (it logs in again)", user_arg, by_name, Unban});
  commands->push_back({"users", "bans", "", 0, "list banned users, a page at a time", "", AddPageOptions, ListBans});
  commands->push_back({"users", "devices", "USER", 1, "list a user's devices and their sessions", user_arg, by_name,
                       ListDevices});
  commands->push_back({"users", "revoke", "USER", 1, "revoke one session (--device) or all of a user's (--all)",
                       user_arg + "\nA revoked device is removed: its token stops working, its live connections "
                                  "are closed, and it no longer counts against the device limit.",
                       [by_name](po::options_description& o) {
                         by_name(o);
                         o.add_options()
                             ("device", po::value<std::uint64_t>()->value_name("ID"), "the device whose session to revoke")
                             ("all", "revoke every session of the user");
                       },
                       Revoke});
  commands->push_back({"users", "provision", "", 0, "create or reuse test accounts PREFIX-0..COUNT-1 for load tests",
                       "Each account gets one fresh device session; --json prints the user ids and session tokens.\n"
                       "For test accounts only: the password is hashed once and all new accounts share the hash.\n"
                       "Idempotent: existing accounts are reused and their earlier sessions of the kind revoked.",
                       [](po::options_description& o) {
                         AddPasswordOptions(o);
                         o.add_options()
                             ("prefix", po::value<std::string>()->value_name("PREFIX")->required(), "username prefix")
                             ("count", po::value<std::uint64_t>()->value_name("N")->required(), "number of accounts")
                             ("device-kind", po::value<std::string>()->value_name("KIND")->default_value("loadgen"),
                              "device kind of the sessions");
                       },
                       Provision});
}

}  // namespace chat::ctl

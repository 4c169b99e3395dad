// users reset-password|delete, chats delete, invites create|list|revoke: the administrator's account
// controls (docs/admin.md, "Accounts"; chatd --registration invite takes the codes made here).
#include <fstream>
#include <iostream>

#include "cli.h"
#include "output.h"
#include "paging.h"

namespace chat::ctl {
namespace {

// `USER` as a numeric id or a username, resolved to the id (not_found for an unknown one).
Result<std::string> ResolveUser(Invocation& inv, const std::string& user) {
  LIBCHAT_ASSIGN_OR_RETURN(Json u, FetchUser(inv, user));
  return Id(u["id"]);
}

// What cannot be undone asks for --yes: a script says so, a person reads what is about to go first.
void RequireYes(Invocation& inv, const std::string& what) {
  if (!inv.Has("yes")) throw UsageError(what + " cannot be undone: add --yes to go ahead");
}

std::string ReadNewPassword(Invocation& inv) {
  std::string password;
  if (inv.Has("password-file") == inv.Has("password-stdin")) {
    throw UsageError("give the new password with exactly one of --password-file FILE and --password-stdin");
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

Status ResetPassword(Invocation& inv) {
  const std::string password = ReadNewPassword(inv);
  LIBCHAT_ASSIGN_OR_RETURN(std::string id, ResolveUser(inv, inv.args()[0]));
  LIBCHAT_ASSIGN_OR_RETURN(Json r, inv.admin().Post("/v1/users/" + id + "/password", Json{{"password", password}}));
  if (inv.json()) return inv.PrintJson(r);
  inv.out() << "password of user " << id << " (" << r["username"].get<std::string>() << ") reset; "
            << r["sessionsEnded"].size() << " sessions ended\n";
  return Status::Ok();
}

Status DeleteUser(Invocation& inv) {
  RequireYes(inv, "deleting a user");
  LIBCHAT_ASSIGN_OR_RETURN(std::string id, ResolveUser(inv, inv.args()[0]));
  LIBCHAT_ASSIGN_OR_RETURN(Json r, inv.admin().Delete("/v1/users/" + id));
  if (inv.json()) return inv.PrintJson(r);
  inv.out() << "user " << id << " deleted:";
  for (const auto& [key, value] : r.items()) {
    if (value.is_number_unsigned() && key != "userId") inv.out() << ' ' << key << '=' << value.get<std::uint64_t>();
  }
  inv.out() << '\n';
  return Status::Ok();
}

Status DeleteChat(Invocation& inv) {
  const std::string chat = inv.args()[0];
  if (!IsId(chat)) throw UsageError("'" + chat + "' is not a chat id");
  RequireYes(inv, "deleting a chat");
  LIBCHAT_ASSIGN_OR_RETURN(Json r, inv.admin().Delete("/v1/chats/" + chat));
  if (inv.json()) return inv.PrintJson(r);
  inv.out() << "chat " << chat << " deleted (" << Id(r["members"]) << " members)\n";
  return Status::Ok();
}

Status CreateInvite(Invocation& inv) {
  const auto uses = inv.Get<std::uint64_t>("uses");
  const auto hours = inv.Get<std::uint64_t>("valid-hours");
  if (uses < 1 || uses > 10000) throw UsageError("--uses must be from 1 to 10000");
  if (hours > 24 * 365) throw UsageError("--valid-hours must be from 0 (no expiry) to 8760");
  Json body = {{"maxUses", uses}, {"validHours", hours}};
  if (inv.Has("note")) body["note"] = inv.Get<std::string>("note");
  LIBCHAT_ASSIGN_OR_RETURN(Json r, inv.admin().Post("/v1/invites", body));
  if (inv.json()) return inv.PrintJson(r);
  // The code alone on the first line, for scripts (`chatctl invites create | head -1`).
  inv.out() << r["code"].get<std::string>() << '\n';
  inv.err() << "invitation " << r["id"].get<std::string>() << ": " << uses << " registration(s), "
            << (hours == 0 ? std::string("no expiry") : "valid " + std::to_string(hours) + " hours")
            << "; the code is shown only now\n";
  return Status::Ok();
}

Status ListInvites(Invocation& inv) {
  LIBCHAT_ASSIGN_OR_RETURN(Json page, FetchPages(inv, "/v1/invites", "invites"));
  if (inv.json()) return inv.PrintJson(page);
  Table t({"ID", "USES", "CREATED", "EXPIRES", "NOTE"});
  for (const auto& i : page["invites"]) {
    t.Row({i["id"], Id(i["uses"]) + "/" + Id(i["maxUses"]), FormatTime(i["createdAt"]),
           i["expiresAt"].is_null() || i["expiresAt"] == 0 ? "never" : FormatTime(i["expiresAt"]),
           i.value("note", std::string()).empty() ? "-" : i["note"].get<std::string>()});
  }
  t.Print(inv.out());
  PrintMoreHint(inv, page);
  return Status::Ok();
}

Status RevokeInvite(Invocation& inv) {
  const std::string id = inv.args()[0];
  if (id.size() != 8 || id.find_first_not_of("0123456789abcdef") != std::string::npos) {
    throw UsageError("'" + id + "' is not an invitation id (8 lower-case hex digits)");
  }
  LIBCHAT_ASSIGN_OR_RETURN(Json r, inv.admin().Delete("/v1/invites/" + id));
  if (inv.json()) return inv.PrintJson(r);
  inv.out() << "invitation " << id << " revoked\n";
  return Status::Ok();
}

}  // namespace

void AddAccountCommands(std::vector<Command>* commands) {
  const std::string user_arg = "USER is a numeric user id or a username (--by-name: always a username).";
  auto yes = [](po::options_description& o) { o.add_options()("yes", "confirm: this cannot be undone"); };
  commands->push_back({"users", "reset-password", "USER", 1, "set a new password for a user and end all its sessions",
                       user_arg + "\nThe password is read from a file or standard input, never from the command line.",
                       [](po::options_description& o) {
                         o.add_options()
                             ("by-name", "treat USER as a username even if it is all digits")
                             ("password-file", po::value<std::string>()->value_name("FILE"),
                              "read the new password from the first line of FILE")
                             ("password-stdin", "read the new password from the first line of standard input");
                       },
                       ResetPassword});
  commands->push_back({"users", "delete", "USER", 1,
                       "delete a user: messages become tombstones; devices, memberships, blocks and uploads are erased",
                       user_arg + "\nThe username is free again afterwards; the id is never reused.",
                       [yes](po::options_description& o) {
                         yes(o);
                         o.add_options()("by-name", "treat USER as a username even if it is all digits");
                       },
                       DeleteUser});
  commands->push_back({"chats", "delete", "CHAT", 1, "delete a chat with its messages, members and receipts", "", yes,
                       DeleteChat});
  commands->push_back({"invites", "create", "", 0, "make an invitation code (chatd --registration invite)",
                       "Prints the code (shown only this once) on standard output.",
                       [](po::options_description& o) {
                         o.add_options()
                             ("uses", po::value<std::uint64_t>()->value_name("N")->default_value(1),
                              "registrations the code allows (1 to 10000)")
                             ("valid-hours", po::value<std::uint64_t>()->value_name("H")->default_value(168),
                              "hours the code stays valid (0: no expiry; at most 8760)")
                             ("note", po::value<std::string>()->value_name("TEXT"), "who it is for (admins see it)");
                       },
                       CreateInvite});
  commands->push_back({"invites", "list", "", 0, "list invitations with their uses, a page at a time", "",
                       AddPageOptions, ListInvites});
  commands->push_back({"invites", "revoke", "ID", 1, "revoke an invitation: its code stops working", "",
                       [](po::options_description&) {}, RevokeInvite});
}

}  // namespace chat::ctl

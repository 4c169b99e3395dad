// chats list|show|members, messages tail
#include <chrono>
#include <thread>

#include "cli.h"
#include "output.h"
#include "paging.h"

namespace chat::ctl {
namespace {

std::string ChatArg(const std::string& value) {
  if (!IsId(value)) throw UsageError("'" + value + "' is not a chat id");
  return value;
}

Status ListChats(Invocation& inv) {
  LIBCHAT_ASSIGN_OR_RETURN(Json page, FetchPages(inv, "/v1/chats", "chats"));
  if (inv.json()) return inv.PrintJson(page);
  Table t({"ID", "KIND", "NAME", "HEAD", "MEMBER LIMIT", "CREATED"});
  for (const auto& c : page["chats"]) {
    t.Row({Id(c["id"]), c["kind"], c["name"].get<std::string>().empty() ? "-" : c["name"].get<std::string>(),
           Id(c["head"]), Id(c["memberLimit"]), FormatTime(c["createdAt"])});
  }
  t.Print(inv.out());
  PrintMoreHint(inv, page);
  return Status::Ok();
}

Status ShowChat(Invocation& inv) {
  LIBCHAT_ASSIGN_OR_RETURN(Json c, inv.admin().Get("/v1/chats/" + ChatArg(inv.args()[0])));
  if (inv.json()) return inv.PrintJson(c);
  const auto retention_days = c["retentionMs"].get<std::int64_t>() / (24 * 3600 * 1000LL);
  PrintFields(inv.out(), {{"id", Id(c["id"])},
                          {"kind", c["kind"]},
                          {"name", c["name"].get<std::string>().empty() ? "-" : c["name"].get<std::string>()},
                          {"members", Id(c["members"]) + " of at most " + Id(c["memberLimit"])},
                          {"head", Id(c["head"])},
                          {"retention", std::to_string(retention_days) + " days"},
                          {"created", FormatTime(c["createdAt"]) + " by user " + Id(c["createdBy"])},
                          {"last message", c["lastMessageAt"].is_null() ? "-" : FormatTime(c["lastMessageAt"])},
                          {"metadata", FormatBytes(static_cast<double>(c["metadata"].get<std::string>().size()))}});
  return Status::Ok();
}

Status ListMembers(Invocation& inv) {
  LIBCHAT_ASSIGN_OR_RETURN(Json r, inv.admin().Get("/v1/chats/" + ChatArg(inv.args()[0]) + "/members"));
  if (inv.json()) return inv.PrintJson(r);
  Table t({"USER", "USERNAME", "ROLE", "JOINED", "JOINED AT SEQ", "DELIVERED", "READ"});
  for (const auto& m : r["members"]) {
    t.Row({Id(m["userId"]), m["username"].is_null() ? "-" : m["username"].get<std::string>(), m["role"],
           FormatTime(m["joinedAt"]), Id(m["joinedSeq"]), Id(m["delivered"]), Id(m["read"])});
  }
  t.Print(inv.out());
  return Status::Ok();
}

// One line per message, in fixed-width columns, so that lines printed later while following line up.
void PrintMessageLine(Invocation& inv, const Json& m, bool bodies) {
  char line[160];
  std::snprintf(line, sizeof line, "%8s  %-20s  %8s  %-10s  %7s", Id(m["seq"]).c_str(),
                FormatTime(m["timestamp"]).c_str(), Id(m["sender"]).c_str(), m["kind"].get<std::string>().c_str(),
                m["deleted"].get<bool>() ? "deleted" : Id(m["bytes"]).c_str());
  inv.out() << line;
  if (bodies) inv.out() << "  " << TerminalSafe(m["body"].get<std::string>());
  inv.out() << '\n';
}

Status Tail(Invocation& inv) {
  const std::string chat = ChatArg(inv.Get<std::string>("chat"));
  const bool bodies = inv.Has("bodies");
  const bool follow = inv.Has("follow");
  const std::string query = std::string("?limit=") + std::to_string(inv.Get<std::uint64_t>("limit")) +
                            (bodies ? "&bodies=1" : "");
  if (bodies) inv.err() << "chatctl: note: message bodies are shown; chatd records this access in its audit log\n";
  LIBCHAT_ASSIGN_OR_RETURN(Json page, inv.admin().Get("/v1/chats/" + chat + "/messages" + query));
  // With --follow and --json, JSON Lines: one object per message, as they come.
  if (inv.json() && !follow) return inv.PrintJson(page);
  auto print = [&](const Json& messages) {
    for (const auto& m : messages) {
      if (inv.json()) {
        inv.PrintJson(m).IgnoreError();
      } else {
        PrintMessageLine(inv, m, bodies);
      }
    }
    inv.out().flush();
  };
  if (!inv.json()) {
    char header[160];
    std::snprintf(header, sizeof header, "%8s  %-20s  %8s  %-10s  %7s", "SEQ", "TIME", "SENDER", "KIND", "BYTES");
    inv.out() << header << (bodies ? "  BODY" : "") << '\n';
  }
  print(page["messages"]);
  if (!follow) return Status::Ok();
  // Poll for what comes after the newest entry seen (or the head, for an empty tail).
  std::uint64_t last = page["messages"].empty() ? page["head"].get<std::uint64_t>()
                                                : page["messages"].back()["seq"].get<std::uint64_t>();
  const auto interval = std::chrono::milliseconds(inv.Get<unsigned>("interval-ms"));
  for (;;) {
    std::this_thread::sleep_for(interval);
    LIBCHAT_ASSIGN_OR_RETURN(Json next, inv.admin().Get("/v1/chats/" + chat + "/messages" + query +
                                                        "&after=" + std::to_string(last)));
    print(next["messages"]);
    if (!next["messages"].empty()) last = next["messages"].back()["seq"].get<std::uint64_t>();
  }
}

}  // namespace

void AddChatCommands(std::vector<Command>* commands) {
  auto none = [](po::options_description&) {};
  commands->push_back({"chats", "list", "", 0, "list chats, a page at a time", "", AddPageOptions, ListChats});
  commands->push_back({"chats", "show", "CHAT", 1, "show a chat: members, head, retention, last activity", "", none,
                       ShowChat});
  commands->push_back({"chats", "members", "CHAT", 1, "list a chat's members with their roles and receipts", "", none,
                       ListMembers});
  commands->push_back(
      {"messages", "tail", "", 0, "show a chat's newest messages (metadata only unless --bodies)",
       "Shows seq, time, sender, kind and size. --bodies also shows the bodies; chatd logs that access.\n"
       "--follow keeps polling for new messages until interrupted (with --json: one JSON object per line).",
       [](po::options_description& o) {
         o.add_options()
             ("chat", po::value<std::string>()->value_name("ID")->required(), "the chat")
             ("limit", po::value<std::uint64_t>()->value_name("N")->default_value(20), "how many of the newest to show")
             ("follow,f", "keep polling for new messages")
             ("interval-ms", po::value<unsigned>()->value_name("MS")->default_value(1000), "polling interval with --follow")
             ("bodies", "also show message bodies (audited)");
       },
       Tail});
}

}  // namespace chat::ctl

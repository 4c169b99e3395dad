// spam flagged|reports|unflag: the accounts spam scoring flagged, users' spam reports, and clearing a flag.
#include <cstdio>

#include "cli.h"
#include "output.h"
#include "paging.h"

namespace chat::ctl {
namespace {

std::string Score(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

Status ListFlagged(Invocation& inv) {
  LIBCHAT_ASSIGN_OR_RETURN(Json page, FetchPages(inv, "/v1/spam/flagged", "flagged"));
  if (inv.json()) return inv.PrintJson(page);
  Table t({"USER", "SCORE", "NOW", "SUSPENDED", "FLAGGED", "LAST REASON"});
  for (const auto& f : page["flagged"]) {
    const auto& reasons = f["reasons"];
    t.Row({std::to_string(f["userId"].get<std::uint64_t>()), Score(f["score"].get<double>()),
           Score(f["current"]["score"].get<double>()), f["current"]["suspended"].get<bool>() ? "yes" : "no",
           FormatTime(f["flaggedAt"]), reasons.empty() ? "-" : reasons.back().get<std::string>()});
  }
  t.Print(inv.out());
  PrintMoreHint(inv, page);
  return Status::Ok();
}

Status ListReports(Invocation& inv) {
  std::string path = "/v1/spam/reports";
  if (inv.Has("user")) {
    LIBCHAT_ASSIGN_OR_RETURN(std::string id, UserIdOf(inv, inv.Get<std::string>("user")));
    path += "?user=" + id;
  }
  LIBCHAT_ASSIGN_OR_RETURN(Json page, FetchPages(inv, path, "reports"));
  if (inv.json()) return inv.PrintJson(page);
  Table t({"ID", "SENDER", "REPORTER", "CHAT", "SEQ", "REPORTED", "REASON"});
  for (const auto& r : page["reports"]) {
    const std::string reason = r["reason"];
    t.Row({std::to_string(r["id"].get<std::uint64_t>()), std::to_string(r["senderId"].get<std::uint64_t>()),
           std::to_string(r["reporterId"].get<std::uint64_t>()), std::to_string(r["chatId"].get<std::uint64_t>()),
           std::to_string(r["seq"].get<std::uint64_t>()), FormatTime(r["reportedAt"]), reason.empty() ? "-" : reason});
  }
  t.Print(inv.out());
  PrintMoreHint(inv, page);
  return Status::Ok();
}

Status Unflag(Invocation& inv) {
  LIBCHAT_ASSIGN_OR_RETURN(std::string id, UserIdOf(inv, inv.args()[0]));
  LIBCHAT_ASSIGN_OR_RETURN(Json r, inv.admin().Post("/v1/users/" + id + "/unflag", Json::object()));
  if (inv.json()) return inv.PrintJson(r);
  inv.out() << "cleared the spam flag and score of user " << id << "; it can send again\n";
  return Status::Ok();
}

}  // namespace

void AddSpamCommands(std::vector<Command>* commands) {
  commands->push_back({"spam", "flagged", "", 0, "list accounts flagged by spam scoring",
                       "SCORE is the score when last flagged or suspended, NOW the score decayed to now.",
                       AddPageOptions, ListFlagged});
  commands->push_back({"spam", "reports", "", 0, "list messages users reported as spam", "",
                       [](po::options_description& o) {
                         AddPageOptions(o);
                         o.add_options()("user", po::value<std::string>()->value_name("USER"),
                                         "only reports about this sender (id or username)");
                       },
                       ListReports});
  commands->push_back({"spam", "unflag", "USER", 1, "clear a user's spam flag, score and suspension",
                       "USER is a numeric id or a username.", [](po::options_description&) {}, Unflag});
}

}  // namespace chat::ctl

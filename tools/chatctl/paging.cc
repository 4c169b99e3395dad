#include "paging.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace chat::ctl {

void AddPageOptions(po::options_description& o) {
  o.add_options()
      ("after", po::value<std::uint64_t>()->value_name("ID"), "start after this id (from a previous page's 'more' hint)")
      ("limit", po::value<std::uint64_t>()->value_name("N")->default_value(100), "items per page (at most 1000)")
      ("all", "fetch every page");
}

Result<Json> FetchPages(Invocation& inv, const std::string& path, const std::string& items_key) {
  const char sep = path.find('?') == std::string::npos ? '?' : '&';
  std::string base = path + sep + "limit=" + std::to_string(inv.Get<std::uint64_t>("limit"));
  std::string after = inv.Has("after") ? std::to_string(inv.Get<std::uint64_t>("after")) : "";
  Json all;
  for (;;) {
    LIBCHAT_ASSIGN_OR_RETURN(Json page, inv.admin().Get(base + (after.empty() ? "" : "&after=" + after)));
    if (!inv.Has("all")) return page;
    if (all.is_null()) {
      all = page;
    } else {
      for (auto& item : page[items_key]) all[items_key].push_back(item);
    }
    if (!page.contains("next") || page["next"].is_null()) break;
    after = std::to_string(page["next"].get<std::uint64_t>());
  }
  all["next"] = nullptr;
  return all;
}

void PrintMoreHint(Invocation& inv, const Json& page) {
  if (page.contains("next") && !page["next"].is_null()) {
    inv.out() << "(more: --after " << page["next"].get<std::uint64_t>() << ", or --all)\n";
  }
}

bool IsId(const std::string& s) {
  return !s.empty() && s.size() <= 20 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string Id(const Json& j) { return std::to_string(j.get<std::uint64_t>()); }

Result<Json> FetchUser(Invocation& inv, const std::string& user) {
  if (IsId(user) && !inv.Has("by-name")) return inv.admin().Get("/v1/users/" + user);
  return inv.admin().Get("/v1/users/by-name/" + UrlEncode(user));
}

Result<std::string> UserIdOf(Invocation& inv, const std::string& user) {
  if (IsId(user)) return user;
  LIBCHAT_ASSIGN_OR_RETURN(Json u, inv.admin().Get("/v1/users/by-name/" + UrlEncode(user)));
  return Id(u["id"]);
}

std::string UrlEncode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

}  // namespace chat::ctl

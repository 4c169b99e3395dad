// The admin API's request plumbing: typed refusals, strict readers of query strings and JSON bodies,
// and the route table the handlers fill. Private to libchat::admin.
//
// Handlers read linearly and refuse by throwing ApiError; the dispatcher (admin_server.cc) catches it
// and writes the JSON error. Exceptions never leave this library. Every reader checks its input
// completely before a handler changes anything, so a refused request changes nothing.
#pragma once

#include <httplib.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libchat/admin.h"
#include "log_escape.h"

namespace chat::admin {

using Json = nlohmann::ordered_json;

// A refusal: the HTTP status and the body's error code and message.
class ApiError : public std::exception {
 public:
  ApiError(int http_status, std::string code, std::string message)
      : http_status_(http_status), code_(std::move(code)), message_(std::move(message)) {}
  int http_status() const { return http_status_; }
  const std::string& code() const { return code_; }
  const std::string& message() const { return message_; }
  const char* what() const noexcept override { return message_.c_str(); }
  // {"error": {"code": ..., "message": ...}}
  Json ToJson() const;

 private:
  int http_status_;
  std::string code_;
  std::string message_;
};

// 400 malformed_request: the request itself is wrong (not JSON, a field of the wrong type, a missing
// or unknown field or query parameter), as opposed to well-formed values the service refuses.
ApiError Malformed(std::string message);
// The HTTP status and code of a libchat Status (docs/admin.md, "Errors").
ApiError FromStatus(const Status& s);

[[noreturn]] inline void Throw(const Status& s) { throw FromStatus(s); }
inline void Must(const Status& s) {
  if (!s.ok()) Throw(s);
}
template <typename T>
T Must(Result<T> r) {
  if (!r.ok()) Throw(r.error());
  return std::move(r).value();
}

// What a handler answers: JSON (the default) or, with content_type set, `text` as is.
struct Reply {
  int status = 200;
  Json body = Json::object();
  std::string text;
  std::string content_type;
};

// The query string of a request, checked against the parameters an endpoint takes: an unknown or
// repeated parameter is Malformed.
class Query {
 public:
  Query(const httplib::Request& req, std::initializer_list<std::string_view> allowed);
  // An unsigned integer within [min, max]; `fallback` when absent.
  std::uint64_t UInt(const std::string& name, std::uint64_t fallback, std::uint64_t min, std::uint64_t max) const;
  std::optional<std::uint64_t> OptionalUInt(const std::string& name, std::uint64_t min, std::uint64_t max) const;
  // "1"/"true" or "0"/"false"; `fallback` when absent.
  bool Flag(const std::string& name, bool fallback) const;

 private:
  const httplib::Request& req_;
};

// A request body: a JSON object (an empty body reads as {}). Each accessor checks one field's type;
// Finish() refuses fields nobody asked for, so that a misspelt option is not silently ignored.
class Body {
 public:
  explicit Body(const httplib::Request& req);
  // REQUIRES-style accessors: Malformed if the field is absent (Required*) or of another type.
  std::string RequiredString(const std::string& name);
  std::string String(const std::string& name, std::string fallback);
  std::uint64_t RequiredUInt(const std::string& name);
  std::optional<std::uint64_t> OptionalUInt(const std::string& name);
  bool Bool(const std::string& name, bool fallback);
  bool Has(const std::string& name) const;
  void Finish();

 private:
  const Json* Field(const std::string& name, const char* type);
  Json json_;
  std::vector<std::string> read_;
};

// The largest id a query parameter may name.
constexpr std::uint64_t kMaxId = ~std::uint64_t{0};

// The largest `after` a page may start from: the stores seek to after + 1.
constexpr std::uint64_t kMaxAfter = ~std::uint64_t{0} - 1;

// A decimal id from a path segment (the route's regex admits digits only). Malformed if it overflows.
std::uint64_t PathId(const httplib::Request& req, std::size_t match, const char* what);

// Shared by every handler.
struct Context {
  ChatService& service;
  const AdminOptions& options;
  std::function<std::string()> metrics_text;
  // Writes one line to the audit log.
  std::function<void(const std::string&)> audit;
};

using Handler = std::function<Reply(const httplib::Request&)>;
struct Route {
  std::string method;   // "GET", "POST" or "DELETE"
  std::string pattern;  // cpp-httplib's regex syntax, matched against the whole path
  Handler handler;
};
using Routes = std::vector<Route>;

// Each adds the routes of one area (users_api.cc, chats_api.cc, inbox_api.cc, operations_api.cc,
// provision_api.cc).
void AddUserRoutes(Context& ctx, Routes* routes);
// Bans: ban, unban, list (moderation_api.cc).
void AddModerationRoutes(Context& ctx, Routes* routes);

// A user as every user answer shows it: the record (views.h UserJson) with banned, bannedAt and
// banReason (users_api.cc).
Json UserView(ChatService& service, const User& u);
// The user, or a 404 naming the id.
User GetUserOr404(ChatService& service, UserId id);
void AddChatRoutes(Context& ctx, Routes* routes);
void AddInboxRoutes(Context& ctx, Routes* routes);
void AddOperationRoutes(Context& ctx, Routes* routes);
void AddProvisionRoutes(Context& ctx, Routes* routes);
void AddAbuseRoutes(Context& ctx, Routes* routes);  // abuse_api.cc
// Password resets, deleting users and chats, invitations (accounts_api.cc).
void AddAccountRoutes(Context& ctx, Routes* routes);

}  // namespace chat::admin

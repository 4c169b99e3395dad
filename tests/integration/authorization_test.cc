// Who may do what (docs/security.md, "Authorisation"): every protocol v1 command and every HTTP route
// of the chat port, tried by four callers: no session, a signed-in non-member, a member, and the
// chat's owner. Each row says what each caller gets; every refusal must be a typed error and leave
// the chat as it was (head, members, name, the messages, the victim's device). The table must name
// every command of the server's handler table: a new command fails this test until it is added.
#include <algorithm>
#include <array>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "command_names.h"
#include "crypto.h"
#include "test_server.h"

namespace chat::test {
namespace {

using Json = nlohmann::json;

enum Role { kNone = 0, kOutsider = 1, kMember = 2, kOwner = 3 };
constexpr const char* kRoleNames[] = {"no session", "non-member", "member", "owner"};

// What a caller gets: "ok", or the error code of a refusal.
constexpr const char* kOk = "ok";

// The chat and the people of the test, set up once.
struct World {
  TestServer server{{"--rate-limits", "off", "--call-ring-timeout", "60"}};
  UserId owner = 0, member = 0, outsider = 0, victim = 0, newcomer = 0;
  LiveDevice owner_dev, member_dev, outsider_dev, victim_dev;
  LiveDevice observer;  // The owner's second device: reads the state, never refused anything.
  ChatId chat = 0;      // owner (owner), member, victim.
  ChatId call_chat = 0;  // owner, member: for callInvite, which rings the others.
  Seq owner_msg = 0, member_msg = 0, victim_msg = 0;
  std::string call_id;        // Started by the owner in `chat`, ringing member and victim.
  std::string sent_file;      // Attachment uploaded by the member and sent to `chat`.
  std::string pending_file;   // Attachment announced by the member, not uploaded.
  std::string file_bytes = "%PDF-1.4\nauthorisation test\n";
  int counter = 0;

  std::string Unique(const std::string& prefix) { return prefix + std::to_string(++counter); }
  ChatdProcess& chatd() { return server.chatd(); }
  Client& ClientOf(Role r) {
    switch (r) {
      case kOutsider: return *outsider_dev.client;
      case kMember: return *member_dev.client;
      case kOwner: return *owner_dev.client;
      case kNone: break;
    }
    FAIL("no client for " << kRoleNames[r]);
    throw;
  }
  std::string UserName(Role r) const {
    return r == kOutsider ? "outsider" : r == kMember ? "member" : "owner";
  }
};

std::string Sha256Hex(const std::string& bytes) {
  detail::Sha256 h;
  h.Update(bytes);
  return h.HexDigest();
}

// A raw HTTP/1.1 request with Connection: close; the status code (0 if none came).
int HttpStatus(std::uint16_t port, const std::string& method, const std::string& path, const std::string& token,
               const std::string& body = {}) {
  RawTcp tcp(port);
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
  if (method == "PUT") req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n" + body;
  tcp.Send(req);
  const std::string response = tcp.ReadAll();
  return response.size() > 12 ? std::atoi(response.c_str() + 9) : 0;
}

// What must not change when a request is refused.
struct Snapshot {
  Seq head = 0;
  std::vector<std::pair<UserId, std::string>> members;
  std::string name, metadata;
  std::set<Seq> deleted;
  std::size_t victim_devices = 0;
  bool operator==(const Snapshot&) const = default;
};

Snapshot Take(World& w) {
  Snapshot s;
  auto view = w.observer.client->GetChat(w.chat);
  REQUIRE_OK(view);
  s.head = view->head;
  for (const auto& p : view->participants) s.members.emplace_back(p.user, std::string(ToString(p.role)));
  s.name = view->chat.name;
  s.metadata = view->chat.metadata;
  for (const Message& m : SyncAll(*w.observer.client, w.chat)) {
    if (m.deleted) s.deleted.insert(m.seq);
  }
  auto devices = w.victim_dev.client->ListDevices();
  REQUIRE_OK(devices);
  s.victim_devices = devices->size();
  return s;
}

struct Row {
  std::string what;
  // A protocol command (run over the WebSocket) or an HTTP route ("GET /v1/attachments/...").
  std::string command;
  // The request's fields for `role`, as a JSON object.
  std::function<Json(World&, Role)> args;
  // What each role gets: kOk or an error code (HTTP rows: the status, as text).
  std::array<std::string, 4> expect;
  // Run on a new device of the role's user (for commands that end or alter the caller's session).
  bool own_device = false;
  // After a success: undo what would disturb later rows.
  std::function<void(World&, Role, Client&, const Json& result)> cleanup = nullptr;
};

Json ChatArgs(World& w, Role) { return Json{{"chatId", w.chat}}; }

std::vector<Row> Table() {
  const std::string unauth = "unauthenticated", denied = "permission_denied";
  std::vector<Row> rows = {
      // ---- Accounts: open before login, or about the caller's own account only.
      {"register: a connection without a session only", "register",
       [](World& w, Role) { return Json{{"username", w.Unique("new")}, {"password", "password-new"}}; },
       {kOk, "failed_precondition", "failed_precondition", "failed_precondition"}},
      {"login: a connection without a session only", "login",
       [](World&, Role) {
         return Json{{"username", "owner"}, {"password", PasswordOf("owner")}, {"device", {{"kind", "web"}}}};
       },
       {kOk, "failed_precondition", "failed_precondition", "failed_precondition"}, false,
       [](World&, Role, Client& c, const Json&) { REQUIRE(c.Call("logout").ok); }},
      {"resume: a connection without a session only", "resume",
       [](World& w, Role) { return Json{{"token", w.observer.session.token}}; },
       {kOk, "failed_precondition", "failed_precondition", "failed_precondition"}},
      {"logout ends the caller's own device", "logout", [](World&, Role) { return Json::object(); },
       {unauth, kOk, kOk, kOk}, true},
      {"listDevices lists the caller's own", "listDevices", [](World&, Role) { return Json::object(); },
       {unauth, kOk, kOk, kOk}},
      // A success ends the user's other sessions (access_test); here: only with the current password.
      {"changePassword needs a session and the caller's current password", "changePassword",
       [](World&, Role) { return Json{{"oldPassword", "not-the-password"}, {"newPassword", "a new password"}}; },
       {unauth, unauth, unauth, unauth}},
      {"removeDevice of another user's device is refused", "removeDevice",
       [](World& w, Role) { return Json{{"deviceId", w.victim_dev.id()}}; },
       // Without a session it needs the owner's username and password (bad_request names them).
       {"bad_request", "not_found", "not_found", "not_found"}},
      // Without a session, a right password with a device not the user's gets the answer of a wrong
      // password: the command is no oracle for passwords.
      {"removeDevice with someone else's password is refused", "removeDevice",
       [](World& w, Role) {
         return Json{{"deviceId", w.victim_dev.id()}, {"username", "owner"}, {"password", PasswordOf("owner")}};
       },
       {"unauthenticated", "not_found", "not_found", "not_found"}},
      {"setPushToken sets the caller's own device", "setPushToken",
       [](World&, Role) { return Json{{"provider", "webhook"}, {"token", "t"}}; }, {unauth, kOk, kOk, kOk}, true},
      {"setPrivacy sets the caller's own", "setPrivacy", [](World&, Role) { return Json{{"lastSeen", "everyone"}}; },
       {unauth, kOk, kOk, kOk}},
      // Blocking is about the caller's own list: anyone signed in, nobody else.
      {"blockUser blocks for the caller only", "blockUser", [](World& w, Role) { return Json{{"userId", w.newcomer}}; },
       {unauth, kOk, kOk, kOk}, false,
       [](World& w, Role, Client& c, const Json&) {
         REQUIRE(c.Call("unblockUser", Json{{"userId", w.newcomer}}.dump()).ok);
       }},
      {"unblockUser unblocks for the caller only", "unblockUser",
       [](World& w, Role) { return Json{{"userId", w.newcomer}}; }, {unauth, kOk, kOk, kOk}},
      {"listBlocked lists the caller's own", "listBlocked", [](World&, Role) { return Json::object(); },
       {unauth, kOk, kOk, kOk}},
      {"lookupUser needs a session", "lookupUser", [](World&, Role) { return Json{{"username", "victim"}}; },
       {unauth, kOk, kOk, kOk}},
      {"ping needs only hello", "ping", [](World&, Role) { return Json::object(); }, {kOk, kOk, kOk, kOk}},

      // ---- Chats.
      {"anyone signed in may create a chat", "createChat",
       [](World& w, Role) { return Json{{"kind", "group"}, {"name", w.Unique("g")}}; }, {unauth, kOk, kOk, kOk}},
      {"listChats lists the caller's own", "listChats", [](World&, Role) { return Json::object(); },
       {unauth, kOk, kOk, kOk}},
      {"getChat: members only", "getChat", ChatArgs, {unauth, denied, kOk, kOk}},
      {"modifyParticipants: admins and owners only", "modifyParticipants",
       [](World& w, Role) { return Json{{"chatId", w.chat}, {"remove", {w.victim}}}; },
       {unauth, denied, denied, kOk}, false,
       [](World& w, Role, Client& c, const Json&) {
         REQUIRE(c.Call("modifyParticipants", Json{{"chatId", w.chat}, {"add", {w.victim}}}.dump()).ok);
       }},
      {"promoting oneself is for admins and owners only", "modifyParticipants",
       [](World& w, Role r) {
         const UserId self = r == kOutsider ? w.outsider : r == kMember ? w.member : w.owner;
         return Json{{"chatId", w.chat}, {"roles", {{{"userId", self}, {"role", "admin"}}}}};
       },
       {unauth, denied, denied, "invalid_argument"}},
      {"updateChat: admins and owners only", "updateChat",
       [](World& w, Role) { return Json{{"chatId", w.chat}, {"name", "renamed"}}; }, {unauth, denied, denied, kOk},
       false,
       [](World& w, Role, Client& c, const Json&) {
         REQUIRE(c.Call("updateChat", Json{{"chatId", w.chat}, {"name", "the chat"}}.dump()).ok);
       }},

      // ---- Messages.
      {"sendMessage: members only", "sendMessage",
       [](World& w, Role) { return Json{{"chatId", w.chat}, {"clientId", w.Unique("c")}, {"body", "hi"}}; },
       {unauth, denied, kOk, kOk}},
      {"sync: members only", "sync", [](World& w, Role) { return Json{{"chats", {{std::to_string(w.chat), 0}}}}; },
       {unauth, denied, kOk, kOk}},
      {"sync of one's own pending chats needs a session", "sync", [](World&, Role) { return Json::object(); },
       {unauth, kOk, kOk, kOk}},
      {"history: members only", "history", ChatArgs, {unauth, denied, kOk, kOk}},
      {"ack: members only", "ack", [](World& w, Role) { return Json{{"chatId", w.chat}, {"seq", 1}}; },
       {unauth, denied, kOk, kOk}},
      {"markRead: members only", "markRead", [](World& w, Role) { return Json{{"chatId", w.chat}, {"seq", 1}}; },
       {unauth, denied, kOk, kOk}},
      {"getReceipts: members only", "getReceipts", ChatArgs, {unauth, denied, kOk, kOk}},
      {"typing: members only", "typing", [](World& w, Role) { return Json{{"chatId", w.chat}, {"typing", true}}; },
       {unauth, denied, kOk, kOk}},
      // Before the victim's message is deleted below (a deleted message cannot be reported). Two
      // reports score the victim under the spam flag threshold; the victim sends nothing after.
      {"reportMessage: members, about a message they can see", "reportMessage",
       [](World& w, Role) { return Json{{"chatId", w.chat}, {"seq", w.victim_msg}, {"reason", "spam"}}; },
       {unauth, denied, kOk, kOk}},
      {"deleteMessage of one's own message: its sender", "deleteMessage",
       [](World& w, Role r) { return Json{{"chatId", w.chat}, {"seq", r == kMember ? w.member_msg : w.owner_msg}}; },
       {unauth, denied, kOk, kOk}},
      {"deleteMessage of another's message: admins and owners only", "deleteMessage",
       [](World& w, Role) { return Json{{"chatId", w.chat}, {"seq", w.victim_msg}}; },
       {unauth, denied, denied, kOk}},
      {"getPresence: people who share a chat", "getPresence",
       [](World& w, Role) { return Json{{"userIds", {w.victim}}}; }, {unauth, denied, kOk, kOk}},
      {"anyone signed in may announce an upload", "createAttachment",
       [](World& w, Role) {
         return Json{{"kind", "document"},
                     {"mimeType", "application/pdf"},
                     {"size", w.file_bytes.size()},
                     {"sha256", Sha256Hex(w.file_bytes)}};
       },
       {unauth, kOk, kOk, kOk}},

      // ---- Calls.
      {"callInvite: members only", "callInvite",
       [](World& w, Role) { return Json{{"chatId", w.call_chat}, {"sdp", "v=0"}}; }, {unauth, denied, kOk, kOk},
       /*own_device=*/true,  // The owner's main device is in the call of `chat` already.
       [](World&, Role, Client& c, const Json& result) {
         REQUIRE(c.Call("callHangup", Json{{"callId", result.at("callId")}}.dump()).ok);
       }},
      // The owner's call in `chat` rings the member (and the victim): before accepting, the member
      // may not send ICE; the owner, who is not rung, may not accept or reject it.
      {"callIce: the call's devices only", "callIce",
       [](World& w, Role) { return Json{{"callId", w.call_id}, {"candidate", {{"candidate", "x"}}}}; },
       {unauth, denied, "failed_precondition", kOk}},
      {"callAccept: those it rings only", "callAccept",
       [](World& w, Role) { return Json{{"callId", w.call_id}, {"sdp", "v=0"}}; }, {unauth, denied, kOk, denied}},
      {"callReject: those it rings only", "callReject", [](World& w, Role) { return Json{{"callId", w.call_id}}; },
       {unauth, denied, "failed_precondition", denied}},
      // The member was its only answering callee: its hang-up ends the call for everyone.
      {"callHangup: the call's devices only", "callHangup", [](World& w, Role) { return Json{{"callId", w.call_id}}; },
       {unauth, denied, kOk, "not_found"}},

      // ---- Leaving, last, and of the other chat: the observer must stay in `chat`.
      {"leaveChat: members only", "leaveChat", [](World& w, Role) { return Json{{"chatId", w.call_chat}}; },
       {unauth, denied, kOk, kOk}},

      // ---- HTTP routes of the chat port (expectations are HTTP statuses).
      {"GET of an attachment: members of a chat it was sent to", "GET attachment", nullptr,
       {"401", "403", "200", "200"}},
      {"HEAD of an attachment: the same", "HEAD attachment", nullptr, {"401", "403", "200", "200"}},
      // Others get 403; the uploader's PUT here is refused only for its wrong length (400).
      {"PUT of an upload: its uploader only", "PUT pending", nullptr, {"401", "403", "400", "403"}},
      {"GET of an upload not finished: its uploader only", "GET pending", nullptr, {"401", "404", "409", "404"}},
      {"GET of an attachment id that does not exist", "GET missing", nullptr, {"401", "404", "404", "404"}},
      {"healthz is for anyone", "GET /healthz", nullptr, {"200", "200", "200", "200"}},
      {"readyz is for anyone", "GET /readyz", nullptr, {"200", "200", "200", "200"}},
      {"metrics is for anyone who reaches the port", "GET /metrics", nullptr, {"200", "200", "200", "200"}},
  };
  return rows;
}

void SetUp(World& w) {
  w.owner = RegisterUser(w.chatd(), "owner");
  w.member = RegisterUser(w.chatd(), "member");
  w.outsider = RegisterUser(w.chatd(), "outsider");
  w.victim = RegisterUser(w.chatd(), "victim");
  w.newcomer = RegisterUser(w.chatd(), "newcomer");
  w.owner_dev = LoginDevice(w.chatd(), "owner", "o");
  w.observer = LoginDevice(w.chatd(), "owner", "observer");
  w.member_dev = LoginDevice(w.chatd(), "member", "m");
  w.outsider_dev = LoginDevice(w.chatd(), "outsider", "x");
  w.victim_dev = LoginDevice(w.chatd(), "victim", "v");
  auto chat = w.owner_dev.client->CreateGroup("the chat", {w.member, w.victim});
  REQUIRE_OK(chat);
  w.chat = chat->id;
  auto call_chat = w.owner_dev.client->CreateGroup("calls", {w.member});
  REQUIRE_OK(call_chat);
  w.call_chat = call_chat->id;
  auto m1 = w.owner_dev.client->SendMessage(w.chat, "o1", "from the owner");
  auto m2 = w.member_dev.client->SendMessage(w.chat, "m1", "from a member");
  auto m3 = w.victim_dev.client->SendMessage(w.chat, "v1", "from another member");
  REQUIRE_OK(m1);
  REQUIRE_OK(m2);
  REQUIRE_OK(m3);
  w.owner_msg = m1->message.seq;
  w.member_msg = m2->message.seq;
  w.victim_msg = m3->message.seq;

  // An attachment the member uploads and sends to the chat, and one only announced.
  const Json announce{{"kind", "document"},
                      {"mimeType", "application/pdf"},
                      {"size", w.file_bytes.size()},
                      {"sha256", Sha256Hex(w.file_bytes)}};
  Reply sent = w.member_dev.client->Call("createAttachment", announce.dump());
  REQUIRE(sent.ok);
  w.sent_file = Json::parse(sent.result).at("attachment").at("id").get<std::string>();
  REQUIRE(HttpStatus(w.server.port(), "PUT", "/v1/attachments/" + w.sent_file, w.member_dev.session.token,
                     w.file_bytes) == 200);
  Reply with_file = w.member_dev.client->Call(
      "sendMessage", Json{{"chatId", w.chat}, {"clientId", "f1"}, {"kind", "document"}, {"body", ""},
                          {"attachments", {w.sent_file}}}.dump());
  INFO(with_file.raw);
  REQUIRE(with_file.ok);
  Reply pending = w.member_dev.client->Call("createAttachment", announce.dump());
  REQUIRE(pending.ok);
  w.pending_file = Json::parse(pending.result).at("attachment").at("id").get<std::string>();

  // A call the owner starts in the chat: it rings the member and the victim.
  Reply call = w.owner_dev.client->Call("callInvite", Json{{"chatId", w.chat}, {"sdp", "v=0"}}.dump());
  INFO(call.raw);
  REQUIRE(call.ok);
  w.call_id = Json::parse(call.result).at("callId").get<std::string>();
}

// Runs one HTTP row for `role`; the status as text.
std::string RunHttp(World& w, const Row& row, Role role) {
  const std::string token = role == kNone      ? ""
                            : role == kOutsider ? w.outsider_dev.session.token
                            : role == kMember   ? w.member_dev.session.token
                                                : w.owner_dev.session.token;
  const std::string& c = row.command;
  int status = 0;
  if (c == "GET attachment") status = HttpStatus(w.server.port(), "GET", "/v1/attachments/" + w.sent_file, token);
  if (c == "HEAD attachment") status = HttpStatus(w.server.port(), "HEAD", "/v1/attachments/" + w.sent_file, token);
  if (c == "PUT pending") {
    // Not the declared bytes: even the uploader's PUT would fail its checksum, so nothing is stored.
    status = HttpStatus(w.server.port(), "PUT", "/v1/attachments/" + w.pending_file, token, "x");
  }
  if (c == "GET pending") status = HttpStatus(w.server.port(), "GET", "/v1/attachments/" + w.pending_file, token);
  if (c == "GET missing") {
    status = HttpStatus(w.server.port(), "GET", "/v1/attachments/" + std::string(w.sent_file.size(), 'a'), token);
  }
  if (c.rfind("GET /", 0) == 0) status = HttpStatus(w.server.port(), "GET", c.substr(4), token);
  return std::to_string(status);
}

TEST_CASE("every command and HTTP route, tried with no session, as a non-member, a member and the owner",
          "[integration][authorization]") {
  World w;
  SetUp(w);
  const std::vector<Row> rows = Table();

  // The table walks every command the server has.
  std::set<std::string> walked;
  for (const Row& row : rows) walked.insert(row.command);
  REQUIRE(detail::CommandNames().size() >= 30);
  for (const std::string& name : detail::CommandNames()) {
    INFO("command '" << name << "' is missing from the authorisation table: add a row for it");
    CHECK(walked.count(name) == 1);
  }

  Snapshot baseline = Take(w);
  for (const Row& row : rows) {
    for (Role role : {kNone, kOutsider, kMember, kOwner}) {
      INFO(row.what << " -- as " << kRoleNames[role]);
      const std::string& want = row.expect[role];
      std::string got;
      std::string raw;
      if (!row.args) {
        got = RunHttp(w, row, role);
        // 2xx is success; anything else a refusal that must leave the state as it was.
        if (got.size() == 3 && got[0] == '2') {
          baseline = Take(w);
        } else {
          CHECK(Take(w) == baseline);
        }
      } else {
        std::unique_ptr<Client> fresh;
        LiveDevice extra;
        Client* client = nullptr;
        if (role == kNone) {
          fresh = w.chatd().Connect();
          client = fresh.get();
        } else if (row.own_device) {
          extra = LoginDevice(w.chatd(), w.UserName(role), w.Unique("extra"));
          client = extra.client.get();
        } else {
          client = &w.ClientOf(role);
        }
        const Json args = row.args(w, role);
        Reply reply = client->Call(row.command, args.dump());
        raw = reply.raw;
        got = reply.ok ? kOk : reply.code;
        if (reply.ok) {
          if (row.cleanup) row.cleanup(w, role, *client, Json::parse(reply.result));
          baseline = Take(w);
        } else {
          CHECK_FALSE(reply.message.empty());
          // Refused: nothing changed.
          CHECK(Take(w) == baseline);
        }
        if (row.own_device && role != kNone && row.command != "logout") REQUIRE(client->Call("logout").ok);
      }
      INFO("reply: " << raw);
      CHECK(got == want);
    }
  }

  // The owner removed and re-added the victim; the owner's and member's own
  // messages and the victim's (by the owner, an admin) are deleted; the victim's device is intact.
  const Snapshot end = Take(w);
  CHECK(end.victim_devices == 1);
  CHECK(end.deleted == std::set<Seq>{w.owner_msg, w.member_msg, w.victim_msg});
  CHECK(end.name == "the chat");
}

TEST_CASE("a chat that does not exist, or a direct chat of others, looks the same as any chat one is not in",
          "[integration][authorization]") {
  TestServer s;
  RegisterUser(s.chatd(), "alice");
  const UserId bob = RegisterUser(s.chatd(), "bob");
  RegisterUser(s.chatd(), "carol");
  LiveDevice a = LoginDevice(s.chatd(), "alice", "a");
  LiveDevice c = LoginDevice(s.chatd(), "carol", "c");
  auto group = a.client->CreateGroup("group", {bob});
  auto direct = a.client->CreateDirect(bob);
  REQUIRE_OK(group);
  REQUIRE_OK(direct);
  const std::vector<std::pair<std::string, Json>> commands = {
      {"getChat", Json::object()},
      {"history", Json::object()},
      {"sendMessage", {{"clientId", "x"}, {"body", "hi"}}},
      {"ack", {{"seq", 1}}},
      {"markRead", {{"seq", 1}}},
      {"getReceipts", Json::object()},
      {"typing", {{"typing", true}}},
      {"deleteMessage", {{"seq", 1}}},
      {"modifyParticipants", {{"add", {bob}}}},
      {"updateChat", {{"name", "mine now"}}},
      {"leaveChat", Json::object()},
      {"callInvite", {{"sdp", "v=0"}}},
  };
  for (const ChatId chat : {group->id, direct->id, direct->id + 1000, ChatId{0}}) {
    for (const auto& [cmd, fields] : commands) {
      INFO(cmd << " on chat " << chat);
      Json args = fields;
      args["chatId"] = chat;
      Reply r = c.client->Call(cmd, args.dump());
      INFO(r.raw);
      CHECK(r.code == "permission_denied");
      CHECK(r.message == "not a member of chat " + std::to_string(chat));
    }
  }
  for (const ChatId chat : {group->id, direct->id, direct->id + 1000}) {
    INFO("sync of chat " << chat);
    Reply r = c.client->Call("sync", Json{{"chats", {{std::to_string(chat), 0}}}}.dump());
    CHECK(r.code == "permission_denied");
    CHECK(r.message == "not a member of chat " + std::to_string(chat));
  }
  auto view = a.client->GetChat(group->id);
  REQUIRE_OK(view);
  CHECK(view->participants.size() == 2);
  CHECK(view->chat.name == "group");
}

TEST_CASE("last seen follows the privacy setting for chat partners and is never shown to strangers",
          "[integration][authorization]") {
  TestServer s;
  const UserId alice = RegisterUser(s.chatd(), "alice");
  const UserId bob = RegisterUser(s.chatd(), "bob");
  RegisterUser(s.chatd(), "carol");
  LiveDevice a = LoginDevice(s.chatd(), "alice", "a");
  LiveDevice b = LoginDevice(s.chatd(), "bob", "b");
  LiveDevice c = LoginDevice(s.chatd(), "carol", "c");
  REQUIRE_OK(a.client->CreateDirect(bob));

  auto seen = b.client->GetPresence({alice});
  REQUIRE_OK(seen);
  CHECK((*seen)[0].visible);
  CHECK((*seen)[0].last_seen.has_value());
  REQUIRE_OK(a.client->SetPrivacy(LastSeenVisibility::kNobody));
  seen = b.client->GetPresence({alice});
  REQUIRE_OK(seen);
  CHECK_FALSE((*seen)[0].visible);
  CHECK_FALSE((*seen)[0].last_seen.has_value());
  // "everyone" still means everyone who shares a chat: a stranger is refused, not shown.
  REQUIRE_OK(a.client->SetPrivacy(LastSeenVisibility::kEveryone));
  CHECK_CODE(c.client->GetPresence({alice}), StatusCode::kPermissionDenied);
  // A refusal about one user refuses the whole call: nothing is learned about the others either.
  CHECK_CODE(c.client->GetPresence({alice, bob}), StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace chat::test

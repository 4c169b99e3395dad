// Chats: list, show, members, and the tail of a chat's messages (metadata unless bodies are asked for,
// which is logged).
#include <algorithm>
#include <map>

#include "api.h"
#include "views.h"

namespace chat::admin {
namespace {

Chat GetChatOr404(Store& store, ChatId id) {
  auto c = store.GetChat(id);
  if (!c.ok() && c.error().IsNotFound()) throw ApiError(404, "not_found", "no chat with id " + std::to_string(id));
  return Must(std::move(c));
}

}  // namespace

void AddChatRoutes(Context& ctx, Routes* routes) {
  const std::size_t max_page = ctx.options.max_page;

  routes->push_back({"GET", "/v1/chats", [&store = ctx.service.store(), max_page](const httplib::Request& req) {
    Query q(req, {"after", "limit"});
    const ChatId after = q.UInt("after", 0, 0, kMaxAfter);
    const std::size_t limit = q.UInt("limit", 100, 1, max_page);
    auto chats = Must(store.ListChats(after, limit + 1));
    const bool more = chats.size() > limit;
    if (more) chats.resize(limit);
    Reply r;
    r.body["chats"] = Json::array();
    for (const auto& c : chats) {
      Json j = AdminJson(c);
      j["head"] = Must(store.Head(c.id));
      r.body["chats"].push_back(std::move(j));
    }
    r.body["next"] = NextCursor(more, chats.empty() ? 0 : chats.back().id);
    return r;
  }});

  routes->push_back({"GET", R"(/v1/chats/(\d+))", [&store = ctx.service.store()](const httplib::Request& req) {
    Query q(req, {});
    const Chat chat = GetChatOr404(store, PathId(req, 1, "chat"));
    Reply r;
    r.body = ChatDetailJson(chat);
    const Seq head = Must(store.Head(chat.id));
    r.body["head"] = head;
    r.body["members"] = Must(store.ListParticipants(chat.id)).size();
    // The newest entry retention still keeps tells when the chat was last active.
    Json last = nullptr;
    if (head != 0) {
      auto m = store.GetMessage(chat.id, head);
      if (m.ok()) last = m->timestamp;
      else if (!m.error().IsNotFound()) Throw(m.error());
    }
    r.body["lastMessageAt"] = last;
    return r;
  }});

  routes->push_back({"GET", R"(/v1/chats/(\d+)/members)", [&store = ctx.service.store()](const httplib::Request& req) {
    Query q(req, {});
    const Chat chat = GetChatOr404(store, PathId(req, 1, "chat"));
    std::map<UserId, ReceiptCursor> receipts;
    for (const auto& rc : Must(store.ListReceipts(chat.id))) receipts[rc.user] = rc;
    Reply r;
    r.body["chatId"] = chat.id;
    r.body["members"] = Json::array();
    for (const auto& p : Must(store.ListParticipants(chat.id))) {
      auto user = store.GetUser(p.user);
      const ReceiptCursor rc = receipts.count(p.user) ? receipts[p.user] : ReceiptCursor{};
      Json member = AdminJson(p);
      member["username"] = user.ok() ? Json(user->username) : Json(nullptr);
      member["delivered"] = rc.delivered;
      member["read"] = rc.read;
      r.body["members"].push_back(std::move(member));
    }
    return r;
  }});

  // Without `after`: the newest `limit` entries. With it: the entries after that seq (what a follower
  // polls for). Ascending either way.
  routes->push_back({"GET", R"(/v1/chats/(\d+)/messages)", [&store = ctx.service.store(), &ctx, max_page](const httplib::Request& req) {
    Query q(req, {"after", "limit", "bodies"});
    const auto after = q.OptionalUInt("after", 0, kMaxId);
    const std::size_t limit = q.UInt("limit", 20, 1, max_page);
    const bool bodies = q.Flag("bodies", false);
    const Chat chat = GetChatOr404(store, PathId(req, 1, "chat"));
    const Seq head = Must(store.Head(chat.id));
    std::vector<Message> messages;
    if (after) {
      messages = Must(store.ReadMessages(chat.id, *after, limit));
    } else {
      messages = Must(store.ReadMessagesBefore(chat.id, kMaxId, limit));
      std::reverse(messages.begin(), messages.end());
    }
    if (bodies && !messages.empty()) {
      // Reading people's messages is the one thing here an operator should have to answer for.
      ctx.audit("admin: message bodies read: chat " + std::to_string(chat.id) + " seq " +
                std::to_string(messages.front().seq) + ".." + std::to_string(messages.back().seq) + " (" +
                std::to_string(messages.size()) + " entries) by " + req.remote_addr);
    }
    Reply r;
    r.body["chatId"] = chat.id;
    r.body["head"] = head;
    r.body["bodies"] = bodies;
    if (bodies) r.body["notice"] = "message bodies were returned; this access is recorded in the audit log";
    r.body["messages"] = Json::array();
    for (const auto& m : messages) r.body["messages"].push_back(MessageJson(m, bodies));
    return r;
  }});
}

}  // namespace chat::admin

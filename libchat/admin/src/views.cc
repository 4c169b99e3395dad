#include "views.h"

namespace chat::admin {

Json DeviceJson(const Device& d) {
  Json j = AdminJson(d);
  j["hasSession"] = !d.token_hash.empty();
  return j;
}

Json ChatDetailJson(const Chat& c) { return codec::ToOrderedJson(c, codec::kWire); }

Json MessageJson(const Message& m, bool with_body) {
  Json j = AdminJson(m);
  // Sizes rather than content: reading bodies is asked for, and audited (chats_api.cc).
  j["bytes"] = m.body.size();
  j["attachments"] = m.attachments.size();
  if (with_body) {
    j["body"] = m.body;
    j["attachmentIds"] = m.attachments;
  }
  return j;
}

Json InviteJson(const Invite& i, const std::string& code) {
  Json j = {{"id", i.id},
            {"createdAt", i.created_at},
            {"expiresAt", i.expires_at == 0 ? Json(nullptr) : Json(i.expires_at)},
            {"maxUses", i.max_uses},
            {"uses", i.uses},
            {"note", i.note}};
  if (!code.empty()) j["code"] = code;
  return j;
}

Json UserDeletionJson(UserId user, const std::string& username, const UserDeletion& d) {
  return {{"userId", user},
          {"username", username},
          {"messagesErased", d.messages},
          {"chatsLeft", d.chats},
          {"devicesRemoved", d.devices},
          {"blocksRemoved", d.blocks},
          {"attachmentsErased", d.attachments}};
}

Json NextCursor(bool more, std::uint64_t last_id) { return more ? Json(last_id) : Json(nullptr); }

}  // namespace chat::admin

#include "views.h"

namespace chat::admin {

Json UserJson(const User& u) {
  return {{"id", u.id},
          {"username", u.username},
          {"displayName", u.display_name},
          {"email", u.email},
          {"avatarUrl", u.avatar_url},
          {"createdAt", u.created_at},
          {"disabled", u.disabled},
          {"lastSeenVisibility", std::string(ToString(u.last_seen_visibility))}};
}

Json DeviceJson(const Device& d) {
  return {{"id", d.id},
          {"userId", d.user},
          {"kind", d.kind},
          {"name", d.name},
          {"pushProvider", d.push_provider},
          {"createdAt", d.created_at},
          {"lastSeen", d.last_seen},
          // A disabled account's devices keep their record but lose their token.
          {"hasSession", !d.token_hash.empty()},
          {"sessionExpiresAt", d.token_expires_at}};
}

Json ChatJson(const Chat& c) {
  return {{"id", c.id},
          {"kind", std::string(ToString(c.kind))},
          {"name", c.name},
          {"memberLimit", c.member_limit},
          {"retentionMs", c.retention_ms},
          {"createdBy", c.created_by},
          {"createdAt", c.created_at}};
}

Json ChatDetailJson(const Chat& c) {
  Json j = ChatJson(c);
  j["metadata"] = c.metadata;
  return j;
}

Json MessageJson(const Message& m, bool with_body) {
  Json j = {{"seq", m.seq},
            {"id", m.id},
            {"sender", m.sender},
            {"senderDevice", m.sender_device},
            {"kind", std::string(ToString(m.kind))},
            {"bytes", m.body.size()},
            {"attachments", m.attachments.size()},
            {"replyTo", m.reply_to},
            {"refSeq", m.ref_seq},
            {"timestamp", m.timestamp},
            {"deleted", m.deleted}};
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

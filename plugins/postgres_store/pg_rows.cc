#include "pg_rows.h"

#include <limits>

namespace chat::pg {

User UserAt(const Rows& r, int i) {
  User u;
  u.id = r.Uint(i, 0);
  u.username = r.Str(i, 1);
  u.display_name = r.Str(i, 2);
  u.email = r.Str(i, 3);
  u.password_hash = r.Str(i, 4);
  u.avatar_url = r.Str(i, 5);
  u.created_at = r.Int(i, 6);
  u.disabled = r.Bool(i, 7);
  u.last_seen_visibility = static_cast<LastSeenVisibility>(r.Int(i, 8));
  return u;
}

Device DeviceAt(const Rows& r, int i) {
  Device d;
  d.id = r.Uint(i, 0);
  d.user = r.Uint(i, 1);
  d.kind = r.Str(i, 2);
  d.name = r.Str(i, 3);
  d.push_provider = r.Str(i, 4);
  d.push_token = r.Str(i, 5);
  d.token_hash = r.Str(i, 6);
  d.token_expires_at = r.Int(i, 7);
  d.created_at = r.Int(i, 8);
  d.last_seen = r.Int(i, 9);
  return d;
}

Chat ChatAt(const Rows& r, int i) {
  Chat c;
  c.id = r.Uint(i, 0);
  c.kind = static_cast<ChatKind>(r.Int(i, 1));
  c.name = r.Str(i, 2);
  c.metadata = r.Str(i, 3);
  c.member_limit = static_cast<std::uint32_t>(r.Int(i, 4));
  c.retention_ms = r.Int(i, 5);
  c.created_by = r.Uint(i, 6);
  c.created_at = r.Int(i, 7);
  return c;
}

Participant ParticipantAt(const Rows& r, int i) {
  Participant p;
  p.chat = r.Uint(i, 0);
  p.user = r.Uint(i, 1);
  p.role = static_cast<Role>(r.Int(i, 2));
  p.joined_at = r.Int(i, 3);
  p.joined_seq = r.Uint(i, 4);
  return p;
}

Message MessageAt(const Rows& r, int i) {
  Message m;
  m.chat = r.Uint(i, 0);
  m.seq = r.Uint(i, 1);
  m.id = r.Str(i, 2);
  m.sender = r.Uint(i, 3);
  m.sender_device = r.Uint(i, 4);
  m.client_id = r.Str(i, 5);
  m.kind = static_cast<MessageKind>(r.Int(i, 6));
  m.body = r.Str(i, 7);
  m.attachments = r.StrArray(i, 8);
  m.reply_to = r.Uint(i, 9);
  m.ref_seq = r.Uint(i, 10);
  m.timestamp = r.Int(i, 11);
  m.deleted = r.Bool(i, 12);
  return m;
}

Attachment AttachmentAt(const Rows& r, int i) {
  Attachment a;
  a.id = r.Str(i, 0);
  a.uploader = r.Uint(i, 1);
  a.kind = static_cast<AttachmentKind>(r.Int(i, 2));
  a.mime = r.Str(i, 3);
  a.size = r.Uint(i, 4);
  a.sha256 = r.Str(i, 5);
  a.state = static_cast<AttachmentState>(r.Int(i, 6));
  a.created_at = r.Int(i, 7);
  a.completed_at = r.Int(i, 8);
  return a;
}

SpamFlag SpamFlagAt(const Rows& r, int i) {
  SpamFlag f;
  f.user = r.Uint(i, 0);
  f.score = r.Float(i, 1);
  f.flagged_at = r.Int(i, 2);
  f.updated_at = r.Int(i, 3);
  f.suspended = r.Bool(i, 4);
  f.reasons = r.StrArray(i, 5);
  return f;
}

SpamReport SpamReportAt(const Rows& r, int i) {
  SpamReport s;
  s.id = r.Uint(i, 0);
  s.reporter = r.Uint(i, 1);
  s.sender = r.Uint(i, 2);
  s.chat = r.Uint(i, 3);
  s.seq = r.Uint(i, 4);
  s.reason = r.Str(i, 5);
  s.reported_at = r.Int(i, 6);
  return s;
}

Status CheckFits(std::uint64_t v, const char* what) {
  if (v <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return Status::Ok();
  return Status::InvalidArgument(std::string(what) + " " + std::to_string(v) +
                                 " does not fit the database's bigint (at most 2^63 - 1)");
}

}  // namespace chat::pg

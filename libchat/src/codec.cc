#include "codec.h"

namespace chat::detail {
namespace {

// Checks the format byte; the record decoders below read the fields in the order the encoders wrote them.
bool StartV1(Reader& r) { return r.Byte() == kFormatV1 && !r.failed(); }

}  // namespace

Status CorruptRecord(const char* what) { return Status::Corruption(std::string("undecodable ") + what + " record"); }

void Writer::U64(std::uint64_t v) {
  while (v >= 0x80) {
    out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out_.push_back(static_cast<char>(v));
}

void Writer::Str(std::string_view s) {
  U64(s.size());
  out_.append(s);
}

std::uint64_t Reader::U64() {
  std::uint64_t v = 0;
  for (int shift = 0; shift <= 63; shift += 7) {
    if (in_.empty()) break;
    auto b = static_cast<std::uint8_t>(in_.front());
    in_.remove_prefix(1);
    v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
  failed_ = true;
  return 0;
}

std::string Reader::Str() {
  std::uint64_t n = U64();
  if (failed_ || n > in_.size()) {
    failed_ = true;
    return {};
  }
  std::string s(in_.substr(0, n));
  in_.remove_prefix(n);
  return s;
}

std::uint8_t Reader::Byte() {
  if (in_.empty()) {
    failed_ = true;
    return 0;
  }
  auto b = static_cast<std::uint8_t>(in_.front());
  in_.remove_prefix(1);
  return b;
}

std::string EncodeUser(const User& u) {
  Writer w;
  w.Byte(kFormatV1);
  w.U64(u.id);
  w.Str(u.username);
  w.Str(u.display_name);
  w.Str(u.email);
  w.Str(u.password_hash);
  w.Str(u.avatar_url);
  w.I64(u.created_at);
  w.Byte(u.disabled ? 1 : 0);
  w.Byte(static_cast<std::uint8_t>(u.last_seen_visibility));
  return w.Take();
}

Result<User> DecodeUser(std::string_view in) {
  Reader r(in);
  User u;
  if (!StartV1(r)) return CorruptRecord("user");
  u.id = r.U64();
  u.username = r.Str();
  u.display_name = r.Str();
  u.email = r.Str();
  u.password_hash = r.Str();
  u.avatar_url = r.Str();
  u.created_at = r.I64();
  u.disabled = r.Byte() != 0;
  u.last_seen_visibility = static_cast<LastSeenVisibility>(r.Byte());
  if (r.failed()) return CorruptRecord("user");
  return u;
}

std::string EncodeInvite(const Invite& i) {
  Writer w;
  w.Byte(kFormatV1);
  w.Str(i.id);
  w.Str(i.code_hash);
  w.I64(i.created_at);
  w.I64(i.expires_at);
  w.U64(i.max_uses);
  w.U64(i.uses);
  w.Str(i.note);
  return w.Take();
}

Result<Invite> DecodeInvite(std::string_view in) {
  Reader r(in);
  Invite i;
  if (!StartV1(r)) return CorruptRecord("invite");
  i.id = r.Str();
  i.code_hash = r.Str();
  i.created_at = r.I64();
  i.expires_at = r.I64();
  const std::uint64_t max_uses = r.U64();
  const std::uint64_t uses = r.U64();
  i.note = r.Str();
  if (r.failed() || max_uses > 0xffffffffu || uses > 0xffffffffu) return CorruptRecord("invite");
  i.max_uses = static_cast<std::uint32_t>(max_uses);
  i.uses = static_cast<std::uint32_t>(uses);
  return i;
}

std::string EncodeBan(const UserBan& b) {
  Writer w;
  w.Byte(kFormatV1);
  w.U64(b.user);
  w.I64(b.at);
  w.Str(b.reason);
  return w.Take();
}

Result<UserBan> DecodeBan(std::string_view in) {
  Reader r(in);
  UserBan b;
  if (!StartV1(r)) return CorruptRecord("ban");
  b.user = r.U64();
  b.at = r.I64();
  b.reason = r.Str();
  if (r.failed()) return CorruptRecord("ban");
  return b;
}

std::string EncodeDevice(const Device& d) {
  Writer w;
  w.Byte(kFormatV1);
  w.U64(d.id);
  w.U64(d.user);
  w.Str(d.kind);
  w.Str(d.name);
  w.Str(d.push_provider);
  w.Str(d.push_token);
  w.Str(d.token_hash);
  w.I64(d.token_expires_at);
  w.I64(d.created_at);
  w.I64(d.last_seen);
  return w.Take();
}

Result<Device> DecodeDevice(std::string_view in) {
  Reader r(in);
  Device d;
  if (!StartV1(r)) return CorruptRecord("device");
  d.id = r.U64();
  d.user = r.U64();
  d.kind = r.Str();
  d.name = r.Str();
  d.push_provider = r.Str();
  d.push_token = r.Str();
  d.token_hash = r.Str();
  d.token_expires_at = r.I64();
  d.created_at = r.I64();
  d.last_seen = r.I64();
  if (r.failed()) return CorruptRecord("device");
  return d;
}

std::string EncodeChat(const Chat& c) {
  Writer w;
  w.Byte(kFormatV1);
  w.U64(c.id);
  w.Byte(static_cast<std::uint8_t>(c.kind));
  w.Str(c.name);
  w.Str(c.metadata);
  w.U64(c.member_limit);
  w.I64(c.retention_ms);
  w.U64(c.created_by);
  w.I64(c.created_at);
  return w.Take();
}

Result<Chat> DecodeChat(std::string_view in) {
  Reader r(in);
  Chat c;
  if (!StartV1(r)) return CorruptRecord("chat");
  c.id = r.U64();
  c.kind = static_cast<ChatKind>(r.Byte());
  c.name = r.Str();
  c.metadata = r.Str();
  c.member_limit = static_cast<std::uint32_t>(r.U64());
  c.retention_ms = r.I64();
  c.created_by = r.U64();
  c.created_at = r.I64();
  if (r.failed()) return CorruptRecord("chat");
  return c;
}

std::string EncodeParticipant(const Participant& p) {
  Writer w;
  w.Byte(kFormatV1);
  w.U64(p.chat);
  w.U64(p.user);
  w.Byte(static_cast<std::uint8_t>(p.role));
  w.I64(p.joined_at);
  w.U64(p.joined_seq);
  return w.Take();
}

Result<Participant> DecodeParticipant(std::string_view in) {
  Reader r(in);
  Participant p;
  if (!StartV1(r)) return CorruptRecord("participant");
  p.chat = r.U64();
  p.user = r.U64();
  p.role = static_cast<Role>(r.Byte());
  p.joined_at = r.I64();
  p.joined_seq = r.U64();
  if (r.failed()) return CorruptRecord("participant");
  return p;
}

std::string EncodeMessage(const Message& m) {
  Writer w;
  w.Byte(kFormatV1);
  w.U64(m.chat);
  w.U64(m.seq);
  w.Str(m.id);
  w.U64(m.sender);
  w.U64(m.sender_device);
  w.Str(m.client_id);
  w.Byte(static_cast<std::uint8_t>(m.kind));
  w.Str(m.body);
  w.U64(m.attachments.size());
  for (const auto& a : m.attachments) w.Str(a);
  w.U64(m.reply_to);
  w.U64(m.ref_seq);
  w.I64(m.timestamp);
  w.Byte(m.deleted ? 1 : 0);
  return w.Take();
}

Result<Message> DecodeMessage(std::string_view in) {
  Reader r(in);
  Message m;
  if (!StartV1(r)) return CorruptRecord("message");
  m.chat = r.U64();
  m.seq = r.U64();
  m.id = r.Str();
  m.sender = r.U64();
  m.sender_device = r.U64();
  m.client_id = r.Str();
  m.kind = static_cast<MessageKind>(r.Byte());
  m.body = r.Str();
  std::uint64_t n = r.U64();
  if (n > in.size()) return CorruptRecord("message");
  for (std::uint64_t i = 0; i < n && !r.failed(); ++i) m.attachments.push_back(r.Str());
  m.reply_to = r.U64();
  m.ref_seq = r.U64();
  m.timestamp = r.I64();
  m.deleted = r.Byte() != 0;
  if (r.failed()) return CorruptRecord("message");
  return m;
}

std::string EncodeReceipt(const ReceiptCursor& c) {
  Writer w;
  w.Byte(kFormatV1);
  w.U64(c.chat);
  w.U64(c.user);
  w.U64(c.delivered);
  w.U64(c.read);
  return w.Take();
}

Result<ReceiptCursor> DecodeReceipt(std::string_view in) {
  Reader r(in);
  ReceiptCursor c;
  if (!StartV1(r)) return CorruptRecord("receipt");
  c.chat = r.U64();
  c.user = r.U64();
  c.delivered = r.U64();
  c.read = r.U64();
  if (r.failed()) return CorruptRecord("receipt");
  return c;
}

std::string EncodeAttachment(const Attachment& a) {
  Writer w;
  w.Byte(kFormatV1);
  w.Str(a.id);
  w.U64(a.uploader);
  w.Byte(static_cast<std::uint8_t>(a.kind));
  w.Str(a.mime);
  w.U64(a.size);
  w.Str(a.sha256);
  w.Byte(static_cast<std::uint8_t>(a.state));
  w.I64(a.created_at);
  w.I64(a.completed_at);
  return w.Take();
}

Result<Attachment> DecodeAttachment(std::string_view in) {
  Reader r(in);
  Attachment a;
  if (!StartV1(r)) return CorruptRecord("attachment");
  a.id = r.Str();
  a.uploader = r.U64();
  a.kind = static_cast<AttachmentKind>(r.Byte());
  a.mime = r.Str();
  a.size = r.U64();
  a.sha256 = r.Str();
  a.state = static_cast<AttachmentState>(r.Byte());
  a.created_at = r.I64();
  a.completed_at = r.I64();
  if (r.failed()) return CorruptRecord("attachment");
  return a;
}

}  // namespace chat::detail

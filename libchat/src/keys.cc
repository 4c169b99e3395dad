#include "keys.h"

namespace chat::detail::keys {
namespace {

std::string Tag(std::string_view tag) { return std::string(tag); }

std::string Tag1(std::string_view tag, std::uint64_t a) {
  std::string k(tag);
  AppendBE(&k, a);
  return k;
}

std::string Tag2(std::string_view tag, std::uint64_t a, std::uint64_t b) {
  std::string k = Tag1(tag, a);
  AppendBE(&k, b);
  return k;
}

}  // namespace

void AppendBE(std::string* s, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) s->push_back(static_cast<char>((v >> shift) & 0xff));
}

std::uint64_t ReadBE(std::string_view key, std::size_t pos) {
  if (key.size() < pos + 8) return 0;
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<std::uint8_t>(key[pos + i]);
  return v;
}

std::string PrefixEnd(std::string prefix) {
  // Increment the last byte that is not 0xff, dropping the 0xff tail.
  while (!prefix.empty()) {
    auto& c = prefix.back();
    if (static_cast<std::uint8_t>(c) != 0xff) {
      c = static_cast<char>(static_cast<std::uint8_t>(c) + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\xff');  // Unreachable for our non-empty tags.
}

std::string User(UserId id) { return Tag1("u/", id); }
std::string UserPrefix() { return Tag("u/"); }
std::string UserName(std::string_view username) { return "un/" + std::string(username); }
std::string Device(DeviceId id) { return Tag1("d/", id); }
std::string DevicePrefix() { return Tag("d/"); }
std::string DeviceGone(TimeMs at, DeviceId d) { return Tag2("dg/", static_cast<std::uint64_t>(at < 0 ? 0 : at), d); }
std::string DeviceGonePrefix() { return Tag("dg/"); }
std::string UserDevice(UserId u, DeviceId d) { return Tag2("ud/", u, d); }
std::string UserDevicePrefix(UserId u) { return Tag1("ud/", u); }
std::string DeviceToken(std::string_view hash) { return "dt/" + std::string(hash); }
std::string DeviceSeen(TimeMs day, DeviceId d) { return Tag2("ds/", static_cast<std::uint64_t>(day), d); }
std::string DeviceSeenPrefix() { return Tag("ds/"); }
std::string Chat(ChatId id) { return Tag1("c/", id); }
std::string ChatPrefix() { return Tag("c/"); }
std::string ChatHead(ChatId id) { return Tag1("ch/", id); }
std::string Participant(ChatId c, UserId u) { return Tag2("p/", c, u); }
std::string ParticipantPrefix(ChatId c) { return Tag1("p/", c); }
std::string UserChat(UserId u, ChatId c) { return Tag2("uc/", u, c); }
std::string UserChatPrefix(UserId u) { return Tag1("uc/", u); }
std::string Direct(UserId a, UserId b) { return a < b ? Tag2("dm/", a, b) : Tag2("dm/", b, a); }
std::string Message(ChatId c, Seq s) { return Tag2("m/", c, s); }
std::string MessagePrefix(ChatId c) { return Tag1("m/", c); }
std::string Dedup(DeviceId d, std::string_view client_id) { return Tag1("x/", d) + std::string(client_id); }
std::string Expiry(TimeMs at, ChatId c, Seq s) {
  std::string k = Tag2("t/", static_cast<std::uint64_t>(at < 0 ? 0 : at), c);
  AppendBE(&k, s);
  return k;
}
std::string ExpiryPrefix() { return Tag("t/"); }
std::string EraseMarker(ChatId c, Seq from, Seq to) {
  std::string k = Tag2("ez/", c, from);
  AppendBE(&k, to);
  return k;
}
std::string EraseMarkerPrefix() { return Tag("ez/"); }
std::string DeviceCursor(DeviceId d, ChatId c) { return Tag2("dc/", d, c); }
std::string DeviceCursorPrefix(DeviceId d) { return Tag1("dc/", d); }
std::string DeviceCursorsPrefix() { return Tag("dc/"); }
std::string Receipt(ChatId c, UserId u) { return Tag2("rc/", c, u); }
std::string ReceiptPrefix(ChatId c) { return Tag1("rc/", c); }
std::string Attachment(std::string_view id) { return "a/" + std::string(id); }
std::string AttachmentPrefix() { return Tag("a/"); }
std::string AttachmentRef(std::string_view id, ChatId c, Seq s) {
  std::string k = AttachmentRefPrefix(id);
  AppendBE(&k, c);
  AppendBE(&k, s);
  return k;
}
std::string AttachmentRefPrefix(std::string_view id) { return "ar/" + std::string(id) + "/"; }
std::string AttachmentOrphan(std::string_view id) { return "ao/" + std::string(id); }
std::string AttachmentOrphanPrefix() { return Tag("ao/"); }
std::string AttachmentGarbage(std::string_view id) { return "ag/" + std::string(id); }
std::string AttachmentGarbagePrefix() { return Tag("ag/"); }
std::string Block(UserId u, UserId blocked) { return Tag2("bk/", u, blocked); }
std::string BlockPrefix(UserId u) { return Tag1("bk/", u); }
std::string BlocksPrefix() { return Tag("bk/"); }
std::string Ban(UserId u) { return Tag1("bn/", u); }
std::string BanPrefix() { return Tag("bn/"); }
std::string AttachmentQuota(TimeMs day, UserId u) { return Tag2("aq/", static_cast<std::uint64_t>(day), u); }
std::string AttachmentQuotaPrefix() { return Tag("aq/"); }
std::string SpamFlag(UserId u) { return Tag1("sf/", u); }
std::string SpamFlagPrefix() { return Tag("sf/"); }
std::string SpamReport(std::uint64_t id) { return Tag1("sr/", id); }
std::string SpamReportPrefix() { return Tag("sr/"); }
std::string SpamReportBySender(UserId sender, std::uint64_t id) { return Tag2("srs/", sender, id); }
std::string SpamReportBySenderPrefix(UserId sender) { return Tag1("srs/", sender); }
std::string SpamReportOfMessage(UserId reporter, ChatId c, Seq s) {
  std::string k = Tag2("srm/", reporter, c);
  AppendBE(&k, s);
  return k;
}
std::string SpamReporterCount(UserId sender, UserId reporter) { return Tag2("srp/", sender, reporter); }
std::string Invite(std::string_view id) { return "iv/" + std::string(id); }
std::string InvitePrefix() { return Tag("iv/"); }

}  // namespace chat::detail::keys

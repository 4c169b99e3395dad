// The key layout of the built-in KvStore (documented in docs/storage.md). Numbers are 8-byte
// big-endian so that byte order is numeric order: a chat's messages sort by seq, the retention
// index by expiry time.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "libchat/types.h"

namespace chat::detail::keys {

void AppendBE(std::string* s, std::uint64_t v);
// Reads an 8-byte big-endian number at `pos` of `key`; 0 if the key is too short.
std::uint64_t ReadBE(std::string_view key, std::size_t pos);
// The smallest key greater than every key that starts with `prefix`.
std::string PrefixEnd(std::string prefix);

inline constexpr std::string_view kSchema = "meta/schema";
inline constexpr std::string_view kNextUser = "meta/next/user";
inline constexpr std::string_view kNextChat = "meta/next/chat";
inline constexpr std::string_view kNextDevice = "meta/next/device";

std::string User(UserId id);                        // u/<uid> -> User
std::string UserPrefix();                           // u/
std::string UserName(std::string_view username);    // un/<username> -> uid
std::string Block(UserId u, UserId blocked);          // bk/<uid><blocked uid> -> varint since ms
std::string BlockPrefix(UserId u);                    // bk/<uid>
std::string BlocksPrefix();                           // bk/
std::string Ban(UserId u);                            // bn/<uid> -> UserBan
std::string BanPrefix();                              // bn/
std::string Device(DeviceId id);                    // d/<did> -> Device
std::string DevicePrefix();                         // d/
// A removed device, by removal time: the retention sweep erases cursors written for it afterwards.
std::string DeviceGone(TimeMs at, DeviceId d);      // dg/<removed at ms><did> -> ""
std::string DeviceGonePrefix();                     // dg/
std::string UserDevice(UserId u, DeviceId d);       // ud/<uid><did> -> ""
std::string UserDevicePrefix(UserId u);
std::string DeviceToken(std::string_view hash);     // dt/<token hash> -> did
std::string DeviceSeen(TimeMs day, DeviceId d);     // ds/<day start ms><did> -> ""  (activity index)
std::string DeviceSeenPrefix();
std::string Chat(ChatId id);                        // c/<cid> -> Chat
std::string ChatPrefix();
std::string ChatHead(ChatId id);                    // ch/<cid> -> varint seq, varint last timestamp
std::string Participant(ChatId c, UserId u);        // p/<cid><uid> -> Participant
std::string ParticipantPrefix(ChatId c);
std::string UserChat(UserId u, ChatId c);           // uc/<uid><cid> -> Participant (the chat list)
std::string UserChatPrefix(UserId u);
std::string Direct(UserId a, UserId b);             // dm/<min uid><max uid> -> cid
std::string Message(ChatId c, Seq s);               // m/<cid><seq> -> Message
std::string MessagePrefix(ChatId c);
std::string Dedup(DeviceId d, std::string_view client_id);  // x/<did><client id> -> varint cid, seq
std::string Expiry(TimeMs at, ChatId c, Seq s);     // t/<expiry ms><cid><seq> -> ""
std::string ExpiryPrefix();
// Messages [from, to) of chat c were erased (deleted or expired) and their old content must still be
// compacted out of the engine's files; written with the erasing batch, deleted once compacted.
std::string EraseMarker(ChatId c, Seq from, Seq to);  // ez/<cid><from seq><to seq> -> ""
std::string EraseMarkerPrefix();                    // ez/
std::string DeviceCursor(DeviceId d, ChatId c);     // dc/<did><cid> -> varint seq
std::string DeviceCursorPrefix(DeviceId d);
std::string DeviceCursorsPrefix();                 // dc/  (every device's cursors)
std::string Receipt(ChatId c, UserId u);            // rc/<cid><uid> -> ReceiptCursor
std::string ReceiptPrefix(ChatId c);
// Attachment ids are [A-Za-z0-9_-] (blob ids), so the '/' after one ends it unambiguously.
std::string Attachment(std::string_view id);         // a/<id> -> Attachment
std::string AttachmentPrefix();                      // a/
std::string AttachmentRef(std::string_view id, ChatId c, Seq s);  // ar/<id>/<cid><seq> -> ""
std::string AttachmentRefPrefix(std::string_view id);             // ar/<id>/
std::string AttachmentOrphan(std::string_view id);   // ao/<id> -> varint ms since unreferenced
std::string AttachmentOrphanPrefix();                // ao/
std::string AttachmentGarbage(std::string_view id);  // ag/<id> -> ""  (metadata gone, bytes not yet)
std::string AttachmentGarbagePrefix();               // ag/
std::string AttachmentQuota(TimeMs day, UserId u);   // aq/<day start ms><uid> -> varint bytes announced
std::string AttachmentQuotaPrefix();                 // aq/
// Spam scoring (docs/security.md): flags for admins and users' reports.
inline constexpr std::string_view kNextSpamReport = "meta/next/spam_report";
std::string SpamFlag(UserId u);                      // sf/<uid> -> SpamFlag
std::string SpamFlagPrefix();                        // sf/
std::string SpamReport(std::uint64_t id);            // sr/<report id> -> SpamReport
std::string SpamReportPrefix();                      // sr/
std::string SpamReportBySender(UserId sender, std::uint64_t id);  // srs/<sender uid><report id> -> ""
std::string SpamReportBySenderPrefix(UserId sender);              // srs/<sender uid>
std::string SpamReportOfMessage(UserId reporter, ChatId c, Seq s);  // srm/<reporter uid><cid><seq> -> report id
std::string SpamReporterCount(UserId sender, UserId reporter);      // srp/<sender uid><reporter uid> -> count
// Invitations to register (chatd --registration invite).
std::string Invite(std::string_view id);             // iv/<id> -> Invite
std::string InvitePrefix();                          // iv/

}  // namespace chat::detail::keys

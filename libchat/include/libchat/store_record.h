// StoreRecord: one entity of a store's content, as Store::Export streams it and Store::Import takes
// it back (chat-migrate export/import/copy). Records carry what cannot be derived; every index the
// store keeps for lookups (usernames, tokens, a user's chats and devices, direct pairs, dedup, expiry,
// device activity) is rebuilt from them on import, never exported.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>
#include <variant>

#include "libchat/spam.h"
#include "libchat/status.h"
#include "libchat/types.h"

namespace chat {

// The next id each counter will hand out. Exported so that ids freed at the tail (nothing is ever
// reused) stay unused after a copy.
struct IdCounters {
  UserId next_user = 1;
  DeviceId next_device = 1;
  ChatId next_chat = 1;
};

// A chat with its log position: the last sequence number assigned and the timestamp of that entry.
// The head is kept even when retention has deleted the entries, so that numbering continues.
struct ChatRecord {
  Chat chat;
  Seq head = 0;
  TimeMs last_timestamp = 0;
};

// A device's acknowledged position in one chat (Store::DeviceCursor).
struct DeviceCursorRecord {
  DeviceId device = 0;
  ChatId chat = 0;
  Seq seq = 0;
};

struct StoreRecord {
  using Entity =
      std::variant<IdCounters, User, Device, ChatRecord, Participant, Message, DeviceCursorRecord, ReceiptCursor,
                   Attachment, UserBan, UserBlock, SpamFlag, SpamReport, Invite>;
  Entity entity;
};

// The record's type as written in an export: "counters", "user", "device", "chat", "participant",
// "message", "device_cursor", "receipt", "attachment", "ban", "block", "spam_flag", "spam_report",
// "invite".
std::string_view RecordTypeName(const StoreRecord& record);

// Receives exported records one at a time. A non-OK return stops the export with that Status.
using RecordSink = std::function<Status(const StoreRecord&)>;

}  // namespace chat

// The column lists the store selects and how a row becomes an entity, kept in one place so that every
// query of an entity reads the same columns in the same order.
#pragma once

#include <algorithm>
#include <cstdint>

#include "libchat/spam.h"
#include "libchat/types.h"
#include "pg_conn.h"

namespace chat::pg {

inline constexpr const char* kUserCols =
    "id, username, display_name, email, password_hash, avatar_url, created_at, disabled, last_seen_visibility";
inline constexpr const char* kDeviceCols =
    "id, user_id, kind, name, push_provider, push_token, COALESCE(token_hash, ''), token_expires_at, created_at, "
    "last_seen";
inline constexpr const char* kChatCols =
    "id, kind, name, metadata, member_limit, retention_ms, created_by, created_at, head, last_ts, version";
inline constexpr const char* kParticipantCols = "chat_id, user_id, role, joined_at, joined_seq";
inline constexpr const char* kMessageCols =
    "chat_id, seq, id, sender, sender_device, client_id, kind, body, attachments, reply_to, ref_seq, ts, deleted";
inline constexpr const char* kAttachmentCols =
    "id, uploader, kind, mime, size, sha256, state, created_at, completed_at";
inline constexpr const char* kSpamFlagCols = "user_id, score, flagged_at, updated_at, suspended, reasons";
inline constexpr const char* kSpamReportCols = "id, reporter, sender, chat_id, seq, reason, reported_at";

User UserAt(const Rows& r, int row);
Device DeviceAt(const Rows& r, int row);
// The chat's record; kChatCols also carries head, last_ts and version (columns 8 to 10).
Chat ChatAt(const Rows& r, int row);
Participant ParticipantAt(const Rows& r, int row);
Message MessageAt(const Rows& r, int row);
Attachment AttachmentAt(const Rows& r, int row);
SpamFlag SpamFlagAt(const Rows& r, int row);
SpamReport SpamReportAt(const Rows& r, int row);

// Ids and seqs are unsigned 64-bit in libchat and bigint in the database: values past 2^63 - 1 do not
// fit. InvalidArgument naming `what` for one that does not (only an import can bring one).
Status CheckFits(std::uint64_t v, const char* what);

// One row of `messages`: the statement, and its parameters for one entry (pg_log.cc).
inline constexpr const char* kInsertMessageSql =
    "INSERT INTO messages (chat_id, seq, accepted_at, id, sender, sender_device, client_id, kind, body, "
    "attachments, reply_to, ref_seq, ts, deleted, expires_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)";
Params MessageParams(const Message& m, TimeMs accepted_at, TimeMs expires_at);

// A page size as the LIMIT of a query: at most 2^30 rows.
inline std::int64_t LimitOf(std::size_t limit) {
  return static_cast<std::int64_t>(std::min<std::size_t>(limit, std::size_t{1} << 30));
}

}  // namespace chat::pg

// PgStore: device cursors (what a device acknowledged) and receipt cursors (what a user received and
// read). Written behind: each raise is one statement committed without waiting for the WAL flush
// (synchronous_commit off for that transaction), visible to every reader as soon as it returns. The
// membership check and the write are one statement that holds the participant row (FOR SHARE), so a
// member leaving (which deletes that row, then the cursors) and an acknowledgement are ordered: the
// cursor is either written before the leave deletes it or never written.
#include "pg_rows.h"
#include "pg_store.h"

namespace chat::pg {

namespace {

// $1 user, $2 device (0: none), $3 chat, $4 delivered, $5 read. Columns: head (NULL: no chat),
// member, then the receipt after the raise (from RETURNING when it moved, else as it was).
constexpr const char* kRaise = R"sql(
WITH m AS (SELECT 1 FROM participants WHERE chat_id = $3 AND user_id = $1 FOR SHARE),
     d AS (SELECT 1 FROM devices WHERE id = $2 FOR SHARE),
     h AS (SELECT head FROM chats WHERE id = $3),
     ok AS (SELECT 1 FROM h WHERE EXISTS (SELECT 1 FROM m) AND GREATEST($4, $5) <= h.head),
     dc AS (INSERT INTO device_cursors (device_id, chat_id, user_id, seq) SELECT $2, $3, $1, $4 FROM ok WHERE $2 <> 0
            ON CONFLICT (device_id, chat_id) DO UPDATE SET seq = EXCLUDED.seq WHERE device_cursors.seq < EXCLUDED.seq
            RETURNING 1),
     rc AS (INSERT INTO receipts (chat_id, user_id, delivered, read) SELECT $3, $1, GREATEST($4, $5), $5 FROM ok
            ON CONFLICT (chat_id, user_id) DO UPDATE
              SET delivered = GREATEST(receipts.delivered, EXCLUDED.delivered), read = GREATEST(receipts.read, EXCLUDED.read)
              WHERE receipts.delivered < EXCLUDED.delivered OR receipts.read < EXCLUDED.read
            RETURNING delivered, read),
     old AS (SELECT delivered, read FROM receipts WHERE chat_id = $3 AND user_id = $1)
SELECT (SELECT head FROM h), EXISTS (SELECT 1 FROM m), EXISTS (SELECT 1 FROM d), (SELECT count(*) FROM dc),
       COALESCE((SELECT delivered FROM rc), (SELECT delivered FROM old), 0),
       COALESCE((SELECT read FROM rc), (SELECT read FROM old), 0)
)sql";

}  // namespace

Result<ReceiptCursor> PgStore::Acknowledge(UserId user, DeviceId device, ChatId chat, Seq seq) {
  ReceiptCursor out{chat, user, 0, 0};
  LIBCHAT_RETURN_IF_ERROR(Tx(
      [&](Conn& c) -> Status {
        LIBCHAT_ASSIGN_OR_RETURN(Rows r, c.Exec(kRaise, Params().Uint(user).Uint(device).Uint(chat).Uint(seq).Int(0)));
        if (r.IsNull(0, 0)) return Status::NotFound("chat " + std::to_string(chat));
        if (!r.Bool(0, 1)) return Status::PermissionDenied("not a member of chat " + std::to_string(chat));
        if (seq > r.Uint(0, 0)) {
          return Status::InvalidArgument("seq " + std::to_string(seq) + " is beyond the head " +
                                         std::to_string(r.Uint(0, 0)) + " of chat " + std::to_string(chat));
        }
        out.delivered = r.Uint(0, 4);
        out.read = r.Uint(0, 5);
        return Status::Ok();
      },
      /*async_commit=*/true));
  return out;
}

Result<ReceiptCursor> PgStore::MarkRead(UserId user, ChatId chat, Seq seq) {
  ReceiptCursor out{chat, user, 0, 0};
  LIBCHAT_RETURN_IF_ERROR(Tx(
      [&](Conn& c) -> Status {
        LIBCHAT_ASSIGN_OR_RETURN(Rows r, c.Exec(kRaise, Params().Uint(user).Int(0).Uint(chat).Uint(seq).Uint(seq)));
        if (r.IsNull(0, 0)) return Status::NotFound("chat " + std::to_string(chat));
        if (!r.Bool(0, 1)) return Status::PermissionDenied("not a member of chat " + std::to_string(chat));
        if (seq > r.Uint(0, 0)) {
          return Status::InvalidArgument("seq " + std::to_string(seq) + " is beyond the head " +
                                         std::to_string(r.Uint(0, 0)) + " of chat " + std::to_string(chat));
        }
        out.delivered = r.Uint(0, 4);
        out.read = r.Uint(0, 5);
        return Status::Ok();
      },
      /*async_commit=*/true));
  return out;
}

Result<Seq> PgStore::DeviceCursor(DeviceId device, ChatId chat) {
  LIBCHAT_ASSIGN_OR_RETURN(Rows r, Query("SELECT seq FROM device_cursors WHERE device_id = $1 AND chat_id = $2",
                                         Params().Uint(device).Uint(chat)));
  return r.empty() ? Seq{0} : r.Uint(0, 0);
}

Result<ReceiptCursor> PgStore::GetReceipt(ChatId chat, UserId user) {
  LIBCHAT_ASSIGN_OR_RETURN(Rows r, Query("SELECT delivered, read FROM receipts WHERE chat_id = $1 AND user_id = $2",
                                         Params().Uint(chat).Uint(user)));
  if (r.empty()) return ReceiptCursor{chat, user, 0, 0};
  return ReceiptCursor{chat, user, r.Uint(0, 0), r.Uint(0, 1)};
}

Result<std::vector<ReceiptCursor>> PgStore::ListReceipts(ChatId chat) {
  LIBCHAT_ASSIGN_OR_RETURN(Rows r, Query("SELECT r.user_id, r.delivered, r.read FROM receipts r JOIN participants p "
                                         "ON p.chat_id = r.chat_id AND p.user_id = r.user_id WHERE r.chat_id = $1 "
                                         "AND (r.delivered <> 0 OR r.read <> 0) ORDER BY r.user_id",
                                         Params().Uint(chat)));
  std::vector<ReceiptCursor> out;
  for (int i = 0; i < r.size(); ++i) out.push_back({chat, r.Uint(i, 0), r.Uint(i, 1), r.Uint(i, 2)});
  return out;
}

Result<std::vector<PendingChat>> PgStore::PendingChats(UserId user, DeviceId device) {
  // One statement for every chat of the user: its head and the device's cursor.
  LIBCHAT_ASSIGN_OR_RETURN(
      Rows r, Query("SELECT p.chat_id, GREATEST(COALESCE(dc.seq, 0), p.joined_seq), c.head FROM participants p "
                    "JOIN chats c ON c.id = p.chat_id LEFT JOIN device_cursors dc ON dc.device_id = $2 AND "
                    "dc.chat_id = p.chat_id WHERE p.user_id = $1 ORDER BY p.chat_id",
                    Params().Uint(user).Uint(device)));
  std::vector<PendingChat> out;
  for (int i = 0; i < r.size(); ++i) out.push_back({r.Uint(i, 0), r.Uint(i, 1), r.Uint(i, 2)});
  return out;
}

}  // namespace chat::pg

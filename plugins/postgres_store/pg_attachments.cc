// PgStore: attachment metadata, the messages referencing each attachment, and collecting the
// unreferenced ones. `unreferenced_since` is set at creation and when the last reference goes, and
// cleared by the first message that references it; its partial index holds only those, so
// collection reads what is pending, not what is stored.
#include "blob_id.h"
#include "pg_rows.h"
#include "pg_schema.h"
#include "pg_store.h"

namespace chat::pg {

Status PgStore::CreateAttachment(const Attachment& a, std::uint64_t bytes_per_day) {
  if (!detail::IsValidBlobId(a.id)) return Status::InvalidArgument("invalid attachment id '" + a.id + "'");
  return Tx([&](Conn& c) -> Status {
    // The quota is a read-modify-write of the uploader's counter for the day: the counter row's lock
    // (taken by the upsert below, or by this SELECT when it exists) serialises the uploader's
    // announcements across processes.
    const TimeMs day = DayStart(a.created_at);
    LIBCHAT_RETURN_IF_ERROR(c.Exec("INSERT INTO upload_quota (day, user_id, bytes) VALUES ($1, $2, 0) ON CONFLICT DO NOTHING",
                                   Params().Int(day).Uint(a.uploader))
                                .status());
    LIBCHAT_ASSIGN_OR_RETURN(Rows q, c.Exec("SELECT bytes FROM upload_quota WHERE day = $1 AND user_id = $2 FOR UPDATE",
                                            Params().Int(day).Uint(a.uploader)));
    const std::uint64_t used = q.empty() ? 0 : q.Uint(0, 0);
    LIBCHAT_ASSIGN_OR_RETURN(Rows exists, c.Exec("SELECT 1 FROM attachments WHERE id = $1", Params().Text(a.id)));
    if (!exists.empty()) return Status::AlreadyExists("attachment " + a.id);
    if (a.size > bytes_per_day || used > bytes_per_day - a.size) {
      return Status::ResourceExhausted("daily upload quota: user " + std::to_string(a.uploader) + " has announced " +
                                       std::to_string(used) + " of " + std::to_string(bytes_per_day) +
                                       " bytes today; " + std::to_string(a.size) + " more do not fit");
    }
    Status ins = c.Exec("INSERT INTO attachments (id, uploader, kind, mime, size, sha256, state, created_at, completed_at, "
                        "unreferenced_since) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                        Params().Text(a.id).Uint(a.uploader).Int(static_cast<std::int64_t>(a.kind)).Bytes(a.mime)
                            .Uint(a.size).Text(a.sha256).Int(static_cast<std::int64_t>(a.state)).Int(a.created_at)
                            .Int(a.completed_at).Int(a.created_at))
                     .status();
    if (ins.code() == StatusCode::kAlreadyExists) return Status::AlreadyExists("attachment " + a.id);
    if (ins.code() == StatusCode::kInvalidArgument) return Status::NotFound("user " + std::to_string(a.uploader));
    LIBCHAT_RETURN_IF_ERROR(ins);
    return c.Exec("UPDATE upload_quota SET bytes = bytes + $3 WHERE day = $1 AND user_id = $2",
                  Params().Int(day).Uint(a.uploader).Uint(a.size))
        .status();
  });
}

Result<Attachment> PgStore::GetAttachment(std::string_view id) {
  LIBCHAT_ASSIGN_OR_RETURN(Rows r, Query(std::string("SELECT ") + kAttachmentCols + " FROM attachments WHERE id = $1",
                                         Params().Text(id)));
  if (r.empty()) return Status::NotFound("attachment " + std::string(id));
  return AttachmentAt(r, 0);
}

Status PgStore::CompleteAttachment(std::string_view id, TimeMs at) {
  return Tx([&](Conn& c) -> Status {
    LIBCHAT_ASSIGN_OR_RETURN(Rows r, c.Exec("SELECT state FROM attachments WHERE id = $1 FOR UPDATE", Params().Text(id)));
    if (r.empty()) return Status::NotFound("attachment " + std::string(id));
    if (static_cast<AttachmentState>(r.Int(0, 0)) == AttachmentState::kComplete) {
      return Status::FailedPrecondition("attachment " + std::string(id) + " is already uploaded");
    }
    return c.Exec("UPDATE attachments SET state = $2, completed_at = $3 WHERE id = $1",
                  Params().Text(id).Int(static_cast<std::int64_t>(AttachmentState::kComplete)).Int(at))
        .status();
  });
}

Result<std::vector<AttachmentRef>> PgStore::ListAttachmentRefs(std::string_view id) {
  LIBCHAT_ASSIGN_OR_RETURN(Rows r, Query("SELECT chat_id, seq FROM attachment_refs WHERE attachment_id = $1 "
                                         "ORDER BY chat_id, seq",
                                         Params().Text(id)));
  std::vector<AttachmentRef> out;
  for (int i = 0; i < r.size(); ++i) out.push_back({r.Uint(i, 0), r.Uint(i, 1)});
  return out;
}

Result<std::vector<std::string>> PgStore::CollectAttachments(TimeMs now, TimeMs grace_ms, std::size_t max_deletes) {
  LIBCHAT_RETURN_IF_ERROR(Tx([&](Conn& c) -> Status {
    // Metadata of those unreferenced for longer than the grace goes; their ids wait in
    // attachment_garbage until the caller has removed the bytes (ReleaseAttachments).
    LIBCHAT_ASSIGN_OR_RETURN(
        Rows gone, c.Exec("DELETE FROM attachments a WHERE id = ANY(ARRAY(SELECT id FROM attachments "
                          "WHERE unreferenced_since IS NOT NULL AND unreferenced_since + $1 <= $2 "
                          "ORDER BY unreferenced_since LIMIT $3)) "
                          "AND NOT EXISTS (SELECT 1 FROM attachment_refs r WHERE r.attachment_id = a.id) RETURNING id",
                          Params().Int(grace_ms).Int(now).Int(static_cast<std::int64_t>(max_deletes))));
    std::vector<std::string> ids;
    for (int i = 0; i < gone.size(); ++i) ids.push_back(gone.Str(i, 0));
    if (!ids.empty()) {
      LIBCHAT_RETURN_IF_ERROR(c.Exec("INSERT INTO attachment_garbage (id) SELECT unnest($1) ON CONFLICT DO NOTHING",
                                     Params().TextArray(ids))
                                  .status());
    }
    // Quota counters of days before yesterday no longer limit anything.
    return c.Exec("DELETE FROM upload_quota WHERE day < $1", Params().Int(DayStart(now) - kMsPerDay)).status();
  }));
  LIBCHAT_ASSIGN_OR_RETURN(Rows r, Query("SELECT id FROM attachment_garbage ORDER BY id LIMIT $1",
                                         Params().Int(static_cast<std::int64_t>(std::max<std::size_t>(max_deletes, 1)))));
  std::vector<std::string> out;
  for (int i = 0; i < r.size(); ++i) out.push_back(r.Str(i, 0));
  return out;
}

Status PgStore::ReleaseAttachments(const std::vector<std::string>& ids) {
  if (ids.empty()) return Status::Ok();
  return Query("DELETE FROM attachment_garbage WHERE id = ANY($1)", Params().TextArray(ids)).status();
}

}  // namespace chat::pg

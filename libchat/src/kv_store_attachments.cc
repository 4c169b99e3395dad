// KvStore: attachment metadata, the messages referencing each attachment, and collecting the
// unreferenced ones.
#include <algorithm>

#include "blob_id.h"
#include "codec.h"
#include "keys.h"
#include "kv_store_impl.h"

namespace chat::detail {
// ---------------------------------------------------------------- attachments
Status KvStore::CreateAttachment(const Attachment& a, std::uint64_t bytes_per_day) {
  if (!IsValidBlobId(a.id)) return Status::InvalidArgument("invalid attachment id '" + a.id + "'");
  // The quota is a read-modify-write of the uploader's counter: serialise per user.
  MutexLock lock(&StripeFor(a.uploader));
  LIBCHAT_ASSIGN_OR_RETURN(bool exists, Exists(keys::Attachment(a.id)));
  if (exists) return Status::AlreadyExists("attachment " + a.id);
  const std::string quota_key = keys::AttachmentQuota(DayOf(a.created_at), a.uploader);
  std::uint64_t used = 0;
  if (auto v = engine_->Get(quota_key); v.ok()) {
    used = DecodeU64(*v);
  } else if (!v.error().IsNotFound()) {
    return v.error();
  }
  if (a.size > bytes_per_day || used > bytes_per_day - a.size) {
    return Status::ResourceExhausted("daily upload quota: user " + std::to_string(a.uploader) + " has announced " +
                                     std::to_string(used) + " of " + std::to_string(bytes_per_day) +
                                     " bytes today; " + std::to_string(a.size) + " more do not fit");
  }
  auto ticket = std::make_shared<Ticket>();
  ticket->batch.Put(keys::Attachment(a.id), EncodeAttachment(a));
  ticket->batch.Put(keys::AttachmentOrphan(a.id), EncodeU64(static_cast<std::uint64_t>(a.created_at)));
  ticket->batch.Put(quota_key, EncodeU64(used + a.size));
  return commits_.Commit(ticket);
}

Result<Attachment> KvStore::GetAttachment(std::string_view id) {
  auto v = engine_->Get(keys::Attachment(id));
  if (!v.ok()) return NotFoundOr(v.error(), "attachment " + std::string(id));
  return DecodeAttachment(*v);
}

Status KvStore::CompleteAttachment(std::string_view id, TimeMs at) {
  MutexLock lock(&StripeFor(std::hash<std::string_view>()(id)));
  LIBCHAT_ASSIGN_OR_RETURN(Attachment a, GetAttachment(id));
  if (a.state == AttachmentState::kComplete) {
    return Status::FailedPrecondition("attachment " + a.id + " is already uploaded");
  }
  a.state = AttachmentState::kComplete;
  a.completed_at = at;
  auto ticket = std::make_shared<Ticket>();
  ticket->batch.Put(keys::Attachment(a.id), EncodeAttachment(a));
  return commits_.Commit(ticket);
}

Result<std::vector<AttachmentRef>> KvStore::ListAttachmentRefs(std::string_view id) {
  std::vector<AttachmentRef> out;
  const std::string prefix = keys::AttachmentRefPrefix(id);
  LIBCHAT_RETURN_IF_ERROR(ScanPrefix(*engine_, prefix, [&](std::string_view k, std::string_view) {
    out.push_back({keys::ReadBE(k, prefix.size()), keys::ReadBE(k, prefix.size() + 8)});
    return true;
  }));
  return out;
}

Result<std::vector<std::string>> KvStore::CollectAttachments(TimeMs now, TimeMs grace_ms, std::size_t max_deletes) {
  KvBatch b;
  std::size_t collected = 0;
  // The orphan index holds only unreferenced attachments (uploads in flight, or never or no longer
  // sent), so a full scan costs what is pending, not what is stored.
  const std::string prefix = keys::AttachmentOrphanPrefix();
  auto it = engine_->NewIterator();
  for (it->Seek(prefix); it->Valid() && collected < max_deletes; it->Next()) {
    std::string_view k = it->key();
    if (k.substr(0, prefix.size()) != prefix) break;
    const std::string id(k.substr(prefix.size()));
    const TimeMs since = static_cast<TimeMs>(DecodeU64(it->value()));
    if (since + grace_ms > now) continue;
    bool referenced = false;
    LIBCHAT_RETURN_IF_ERROR(ScanPrefix(*engine_, keys::AttachmentRefPrefix(id), [&](std::string_view, std::string_view) {
      referenced = true;
      return false;
    }));
    b.Delete(std::string(k));
    if (referenced) continue;  // A message references it again: a stale index entry.
    b.Delete(keys::Attachment(id));
    b.Put(keys::AttachmentGarbage(id), "");
    ++collected;
  }
  LIBCHAT_RETURN_IF_ERROR(it->status());
  // Quota counters of days before yesterday no longer limit anything.
  const std::string quota = keys::AttachmentQuotaPrefix();
  LIBCHAT_RETURN_IF_ERROR(ScanPrefix(*engine_, quota, [&](std::string_view k, std::string_view) {
    if (static_cast<TimeMs>(keys::ReadBE(k, quota.size())) >= DayOf(now) - kMsPerDay) return false;
    b.Delete(std::string(k));
    return true;
  }));
  if (!b.empty()) {
    auto ticket = std::make_shared<Ticket>();
    ticket->batch = std::move(b);
    LIBCHAT_RETURN_IF_ERROR(commits_.Commit(ticket));
  }
  std::vector<std::string> out;
  const std::string garbage = keys::AttachmentGarbagePrefix();
  LIBCHAT_RETURN_IF_ERROR(ScanPrefix(*engine_, garbage, [&](std::string_view k, std::string_view) {
    out.emplace_back(k.substr(garbage.size()));
    return out.size() < std::max<std::size_t>(max_deletes, 1);
  }));
  return out;
}

Status KvStore::ReleaseAttachments(const std::vector<std::string>& ids) {
  if (ids.empty()) return Status::Ok();
  auto ticket = std::make_shared<Ticket>();
  for (const auto& id : ids) ticket->batch.Delete(keys::AttachmentGarbage(id));
  return commits_.Commit(ticket);
}

}  // namespace chat::detail

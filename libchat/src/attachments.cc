#include "attachments.h"

#include <algorithm>
#include <set>

#include "attachment_types.h"
#include "blob_id.h"
#include "crypto.h"

namespace chat::detail {
namespace {

std::uint64_t MaxBytes(const Limits& l, AttachmentKind kind) {
  switch (kind) {
    case AttachmentKind::kAudio: return l.max_audio_bytes;
    case AttachmentKind::kImage: return l.max_image_bytes;
    case AttachmentKind::kVideo: return l.max_video_bytes;
    case AttachmentKind::kDocument: return l.max_document_bytes;
  }
  return 0;
}

bool IsHex64(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Streams into a BlobWriter, checking the declared size as bytes arrive and the magic bytes as soon
// as enough of them are in, so that a wrong upload is refused early instead of after 100 MiB.
class Upload final : public AttachmentUpload {
 public:
  Upload(Attachment a, std::unique_ptr<BlobWriter> writer, Store& store, Clock& clock)
      : a_(std::move(a)), writer_(std::move(writer)), store_(store), clock_(clock) {}

  const Attachment& attachment() const override { return a_; }

  Status Write(std::string_view bytes) override {
    if (!failed_.ok()) return failed_;
    if (bytes.size() > a_.size - written_) {
      return Fail(Status::InvalidArgument("attachment " + a_.id + ": more than the declared " +
                                          std::to_string(a_.size) + " bytes"));
    }
    if (head_.size() < kMagicBytes) {
      head_.append(bytes.substr(0, kMagicBytes - head_.size()));
      if (head_.size() == std::min<std::uint64_t>(kMagicBytes, a_.size)) {
        LIBCHAT_RETURN_IF_ERROR(Fail(CheckMagic(a_.mime, head_)));
      }
    }
    written_ += bytes.size();
    return Fail(writer_->Write(bytes));
  }

  Result<Attachment> Finish() override {
    if (!failed_.ok()) return failed_;
    if (written_ != a_.size) {
      return Fail(Status::InvalidArgument("attachment " + a_.id + ": received " + std::to_string(written_) +
                                          " of the declared " + std::to_string(a_.size) + " bytes"));
    }
    // Checksum verified, fsynced and renamed into place by the BlobStore; only then is it complete.
    Status committed = writer_->Commit(a_.sha256);
    if (committed.code() == StatusCode::kAlreadyExists) {
      // A concurrent upload of the same attachment won; its bytes passed the same checks.
      return Status::FailedPrecondition("attachment " + a_.id + " is already uploaded");
    }
    if (!committed.ok()) {
      failed_ = committed;
      return committed.WithContext("attachment " + a_.id);
    }
    const TimeMs now = clock_.NowMs();
    LIBCHAT_RETURN_IF_ERROR(store_.CompleteAttachment(a_.id, now));
    a_.state = AttachmentState::kComplete;
    a_.completed_at = now;
    return a_;
  }

 private:
  Status Fail(Status s) {
    if (!s.ok()) {
      failed_ = s;
      writer_->Abort();
    }
    return s;
  }

  Attachment a_;
  std::unique_ptr<BlobWriter> writer_;
  Store& store_;
  Clock& clock_;
  std::uint64_t written_ = 0;
  std::string head_;
  Status failed_;
};

}  // namespace

Attachments::Attachments(const ServiceOptions& options, Store& store, std::shared_ptr<BlobStore> blobs)
    : options_(options), store_(store), blobs_(std::move(blobs)) {}

Status Attachments::Enabled() const {
  if (!blobs_) return Status::NotSupported("attachments are not enabled on this server (no blob store)");
  return Status::Ok();
}

Result<UploadTicket> Attachments::Create(UserId user, const NewAttachment& r) {
  LIBCHAT_RETURN_IF_ERROR(Enabled());
  LIBCHAT_RETURN_IF_ERROR(CheckAttachmentType(r.kind, r.mime));
  if (r.size == 0) return Status::InvalidArgument("size must be at least 1 byte");
  const std::uint64_t max = MaxBytes(options_.limits, r.kind);
  if (r.size > max) {
    return Status::InvalidArgument("size " + std::to_string(r.size) + " is over the limit of " + std::to_string(max) +
                                   " bytes for " + std::string(ToString(r.kind)) + " attachments");
  }
  if (!IsHex64(r.sha256)) return Status::InvalidArgument("sha256 must be 64 hex digits");
  Attachment a;
  a.id = RandomHex(16);
  a.uploader = user;
  a.kind = r.kind;
  a.mime = r.mime;
  a.size = r.size;
  a.sha256 = Lower(r.sha256);
  a.state = AttachmentState::kPending;
  a.created_at = options_.clock->NowMs();
  LIBCHAT_RETURN_IF_ERROR(store_.CreateAttachment(a, options_.limits.attachment_bytes_per_day));
  UploadTicket t;
  t.upload_path = "/v1/attachments/" + a.id;
  t.expires_at = a.created_at + options_.attachment_orphan_ttl_ms;
  t.attachment = std::move(a);
  return t;
}

Result<std::unique_ptr<AttachmentUpload>> Attachments::BeginUpload(UserId user, const std::string& id) {
  LIBCHAT_RETURN_IF_ERROR(Enabled());
  if (!IsValidBlobId(id)) return Status::NotFound("attachment " + id.substr(0, 64));
  LIBCHAT_ASSIGN_OR_RETURN(Attachment a, store_.GetAttachment(id));
  if (a.uploader != user) return Status::PermissionDenied("attachment " + id + " was announced by another user");
  if (a.state == AttachmentState::kComplete) {
    return Status::FailedPrecondition("attachment " + id + " is already uploaded");
  }
  LIBCHAT_ASSIGN_OR_RETURN(auto writer, blobs_->NewWriter(id));
  return std::unique_ptr<AttachmentUpload>(std::make_unique<Upload>(std::move(a), std::move(writer), store_, *options_.clock));
}

Status Attachments::MayRead(UserId user, const Attachment& a) {
  if (a.uploader == user) return Status::Ok();
  LIBCHAT_ASSIGN_OR_RETURN(auto refs, store_.ListAttachmentRefs(a.id));
  for (const AttachmentRef& ref : refs) {
    auto p = store_.GetParticipant(ref.chat, user);
    if (p.ok() && p->joined_seq < ref.seq) return Status::Ok();
    if (!p.ok() && !p.error().IsNotFound()) return p.error();
  }
  return Status::PermissionDenied("attachment " + a.id + " was not sent to a chat you are in");
}

Result<AttachmentDownload> Attachments::Open(UserId user, const std::string& id) {
  LIBCHAT_RETURN_IF_ERROR(Enabled());
  if (!IsValidBlobId(id)) return Status::NotFound("attachment " + id.substr(0, 64));
  LIBCHAT_ASSIGN_OR_RETURN(Attachment a, store_.GetAttachment(id));
  if (a.state != AttachmentState::kComplete) {
    // Nobody else can know of it yet.
    if (a.uploader != user) return Status::NotFound("attachment " + id);
    return Status::FailedPrecondition("attachment " + id + " is not uploaded yet");
  }
  LIBCHAT_RETURN_IF_ERROR(MayRead(user, a));
  LIBCHAT_ASSIGN_OR_RETURN(auto reader, blobs_->Open(id));
  return AttachmentDownload{std::move(a), std::move(reader)};
}

Status Attachments::CheckSend(UserId sender, MessageKind kind, const std::vector<std::string>& ids) {
  if (ids.empty()) return Status::Ok();
  LIBCHAT_RETURN_IF_ERROR(Enabled());
  std::set<std::string> seen;
  for (const auto& id : ids) {
    if (!seen.insert(id).second) return Status::InvalidArgument("attachment " + id + " is listed twice");
    if (!IsValidBlobId(id)) return Status::NotFound("attachment " + id.substr(0, 64));
    auto a = store_.GetAttachment(id);
    if (!a.ok()) return a.error().IsNotFound() ? Status::NotFound("attachment " + id + " does not exist") : a.error();
    if (a->state != AttachmentState::kComplete) {
      if (a->uploader != sender) return Status::NotFound("attachment " + id + " does not exist");
      return Status::FailedPrecondition("attachment " + id + " is not uploaded yet");
    }
    LIBCHAT_RETURN_IF_ERROR(MayRead(sender, *a));
    // Both names are the same words (image, audio, video, document), so the kinds compare by name.
    if (ToString(a->kind) != ToString(kind)) {
      return Status::InvalidArgument("attachment " + id + " is of kind " + std::string(ToString(a->kind)) +
                                     ", not " + std::string(ToString(kind)) + ": a message's kind is that of its attachments");
    }
  }
  return Status::Ok();
}

Status Attachments::RemoveBytes(const std::vector<std::string>& ids) {
  if (ids.empty()) return Status::Ok();
  std::vector<std::string> removed;
  for (const auto& id : ids) {
    Status s = blobs_ ? blobs_->Remove(id) : Status::Ok();
    if (!s.ok() && !s.IsNotFound()) return s.WithContext("removing attachment " + id);
    removed.push_back(id);
  }
  return store_.ReleaseAttachments(removed);
}

Result<std::size_t> Attachments::Collect(TimeMs now, std::size_t max_deletes) {
  if (!blobs_) return std::size_t{0};
  auto ids = store_.CollectAttachments(now, options_.attachment_orphan_ttl_ms, max_deletes);
  if (!ids.ok()) return ids.error().code() == StatusCode::kNotSupported ? Result<std::size_t>(std::size_t{0}) : ids.error();
  std::vector<std::string> removed;
  for (const auto& id : *ids) {
    Status s = blobs_->Remove(id);
    // NotFound: never uploaded, or removed before a crash interrupted the release.
    if (s.ok() || s.IsNotFound()) {
      removed.push_back(id);
    } else {
      return s.WithContext("removing attachment " + id);
    }
  }
  LIBCHAT_RETURN_IF_ERROR(store_.ReleaseAttachments(removed));
  return removed.size();
}

}  // namespace chat::detail

// Attachments: the ChatService's attachment rules (limits, quota, ownership, who may download) and
// uploads streamed into the BlobStore. ChatServiceImpl owns one and forwards to it. Thread-safe;
// calls block on the store and the BlobStore.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "libchat/blob.h"
#include "libchat/service.h"
#include "libchat/store.h"

namespace chat::detail {

class Attachments {
 public:
  // `options` and `store` must outlive this. `blobs` may be null: every call then fails NotSupported,
  // except CheckSend of no attachments and Collect, which do nothing.
  Attachments(const ServiceOptions& options, Store& store, std::shared_ptr<BlobStore> blobs);

  Result<UploadTicket> Create(UserId user, const NewAttachment& request);
  Result<std::unique_ptr<AttachmentUpload>> BeginUpload(UserId user, const std::string& id);
  Result<AttachmentDownload> Open(UserId user, const std::string& id);
  // The attachments of a message `sender` is about to send: distinct, complete, and the sender's own
  // or visible to them (forwarded).
  // `kind`: the message's; every attachment must be of that kind (a "video" message carries videos):
  // InvalidArgument otherwise, naming the attachment and both kinds.
  Status CheckSend(UserId sender, MessageKind kind, const std::vector<std::string>& ids);
  // Deletes attachments unreferenced for longer than the grace period, bytes first recorded as
  // garbage, then removed, then forgotten. Returns how many were removed.
  Result<std::size_t> Collect(TimeMs now, std::size_t max_deletes);
  // Removes the bytes of attachments whose metadata the store deleted (Store::DeleteUser), then
  // releases them (Store::ReleaseAttachments), as Collect does.
  Status RemoveBytes(const std::vector<std::string>& ids);

 private:
  Status Enabled() const;
  // OK if `user` may read the attachment: the uploader, or a member who saw a message referencing it.
  Status MayRead(UserId user, const Attachment& a);

  const ServiceOptions& options_;
  Store& store_;
  std::shared_ptr<BlobStore> blobs_;
};

}  // namespace chat::detail

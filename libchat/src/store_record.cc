// What every Store offers for export, import and retention dry runs unless it overrides them, the
// blocking Append on AppendAsync, and the record type names.
#include <condition_variable>
#include <mutex>
#include <optional>

#include "libchat/store.h"

namespace chat {
namespace {

struct TypeName {
  std::string_view operator()(const IdCounters&) const { return "counters"; }
  std::string_view operator()(const User&) const { return "user"; }
  std::string_view operator()(const Device&) const { return "device"; }
  std::string_view operator()(const ChatRecord&) const { return "chat"; }
  std::string_view operator()(const Participant&) const { return "participant"; }
  std::string_view operator()(const Message&) const { return "message"; }
  std::string_view operator()(const DeviceCursorRecord&) const { return "device_cursor"; }
  std::string_view operator()(const ReceiptCursor&) const { return "receipt"; }
  std::string_view operator()(const Attachment&) const { return "attachment"; }
  std::string_view operator()(const UserBan&) const { return "ban"; }
  std::string_view operator()(const UserBlock&) const { return "block"; }
  std::string_view operator()(const SpamFlag&) const { return "spam_flag"; }
  std::string_view operator()(const SpamReport&) const { return "spam_report"; }
  std::string_view operator()(const Invite&) const { return "invite"; }
};

}  // namespace

std::string_view RecordTypeName(const StoreRecord& record) { return std::visit(TypeName{}, record.entity); }

Status Store::Availability() { return Status::Ok(); }

Result<AppendResult> Store::Append(Message draft, const CommitObserver& observer, const AppendAdmission& admit) {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Result<AppendResult>> out;
  AppendAsync(
      std::move(draft), observer,
      [&](Result<AppendResult> r) {
        std::lock_guard lock(mu);
        out.emplace(std::move(r));
        cv.notify_one();
      },
      admit);
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return out.has_value(); });
  return std::move(*out);
}

Status Store::Export(const RecordSink& /*sink*/) {
  return Status::NotSupported(Describe() + ": this store cannot export its content");
}

Status Store::Import(const StoreRecord& /*record*/) {
  return Status::NotSupported(Describe() + ": this store cannot import content");
}

Result<RetentionReport> Store::CountExpired(TimeMs /*now*/, TimeMs /*cursor_ttl_ms*/, std::size_t /*max_deletes*/) {
  return Status::NotSupported(Describe() + ": this store cannot count what retention would delete");
}

Status Store::CreateInvite(const Invite& /*invite*/) {
  return Status::NotSupported(Describe() + ": this store cannot keep invitations");
}

Result<Invite> Store::GetInvite(std::string_view /*id*/) {
  return Status::NotSupported(Describe() + ": this store cannot keep invitations");
}

Result<std::vector<Invite>> Store::ListInvites(std::string_view /*after*/, std::size_t /*limit*/) {
  return Status::NotSupported(Describe() + ": this store cannot keep invitations");
}

Status Store::DeleteInvite(std::string_view /*id*/) {
  return Status::NotSupported(Describe() + ": this store cannot keep invitations");
}

Result<User> Store::CreateUserWithInvite(User /*user*/, std::string_view /*invite_id*/, std::string_view /*code_hash*/,
                                         TimeMs /*now*/) {
  return Status::NotSupported(Describe() + ": this store cannot keep invitations");
}

Result<Message> Store::EraseMessage(ChatId /*chat*/, Seq /*seq*/, TimeMs /*now*/, const CommitObserver& /*observer*/) {
  return Status::NotSupported(Describe() + ": this store cannot erase messages for an administrator");
}

Result<UserErasure> Store::DeleteUser(UserId /*user*/, TimeMs /*now*/) {
  return Status::NotSupported(Describe() + ": this store cannot delete users");
}

Status Store::DeleteChat(ChatId /*chat*/) {
  return Status::NotSupported(Describe() + ": this store cannot delete chats");
}

Status Store::CreateAttachment(const Attachment& /*attachment*/, std::uint64_t /*bytes_per_day*/) {
  return Status::NotSupported(Describe() + ": this store cannot keep attachments");
}

Result<Attachment> Store::GetAttachment(std::string_view /*id*/) {
  return Status::NotSupported(Describe() + ": this store cannot keep attachments");
}

Status Store::CompleteAttachment(std::string_view /*id*/, TimeMs /*at*/) {
  return Status::NotSupported(Describe() + ": this store cannot keep attachments");
}

Result<std::vector<AttachmentRef>> Store::ListAttachmentRefs(std::string_view /*id*/) {
  return Status::NotSupported(Describe() + ": this store cannot keep attachments");
}

Result<std::vector<std::string>> Store::CollectAttachments(TimeMs /*now*/, TimeMs /*grace_ms*/,
                                                           std::size_t /*max_deletes*/) {
  return Status::NotSupported(Describe() + ": this store cannot keep attachments");
}

Status Store::ReleaseAttachments(const std::vector<std::string>& /*ids*/) {
  return Status::NotSupported(Describe() + ": this store cannot keep attachments");
}

Status Store::PutSpamFlag(const SpamFlag& /*flag*/) {
  return Status::NotSupported(Describe() + ": this store keeps no spam flags");
}

Result<SpamFlag> Store::GetSpamFlag(UserId /*user*/) {
  return Status::NotSupported(Describe() + ": this store keeps no spam flags");
}

Status Store::DeleteSpamFlag(UserId /*user*/) {
  return Status::NotSupported(Describe() + ": this store keeps no spam flags");
}

Result<std::vector<SpamFlag>> Store::ListSpamFlags(UserId /*after*/, std::size_t /*limit*/) {
  return Status::NotSupported(Describe() + ": this store keeps no spam flags");
}

Result<SpamReportAdded> Store::AddSpamReport(SpamReport /*report*/) {
  return Status::NotSupported(Describe() + ": this store keeps no spam reports");
}

Result<std::vector<SpamReport>> Store::ListSpamReports(UserId /*sender*/, std::uint64_t /*after*/,
                                                       std::size_t /*limit*/) {
  return Status::NotSupported(Describe() + ": this store keeps no spam reports");
}

}  // namespace chat

namespace chat {

Status Store::Block(const UserBlock& /*block*/, std::size_t /*max_blocked*/) {
  return Status::NotSupported(Describe() + ": this store cannot keep blocks");
}

Status Store::Unblock(UserId /*user*/, UserId /*blocked*/) {
  return Status::NotSupported(Describe() + ": this store cannot keep blocks");
}

Result<std::vector<UserBlock>> Store::ListBlocked(UserId /*user*/) {
  return Status::NotSupported(Describe() + ": this store cannot keep blocks");
}

Result<UserBan> Store::GetBan(UserId /*user*/) {
  return Status::NotSupported(Describe() + ": this store cannot keep bans");
}

Result<std::vector<UserBan>> Store::ListBans(UserId /*after*/, std::size_t /*limit*/) {
  return Status::NotSupported(Describe() + ": this store cannot keep bans");
}

}  // namespace chat

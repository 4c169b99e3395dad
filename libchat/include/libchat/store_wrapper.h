// StoreWrapper: a Store that forwards every call to another (LevelDB's EnvWrapper). A decorator
// derives from it and overrides what it changes: metrics, fault injection in tests, delays that widen
// a race window on purpose. Thread-safe as the wrapped store is.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "libchat/store.h"

namespace chat {

class StoreWrapper : public Store {
 public:
  explicit StoreWrapper(std::shared_ptr<Store> base) : base_(std::move(base)) {}
  Store& base() { return *base_; }

  Result<User> CreateUser(User user) override { return base_->CreateUser(std::move(user)); }
  Result<User> GetUser(UserId id) override { return base_->GetUser(id); }
  Result<User> FindUserByName(std::string_view username) override { return base_->FindUserByName(username); }
  Status UpdateUser(UserId id, const std::function<Status(User*)>& edit) override {
    return base_->UpdateUser(id, edit);
  }
  Result<std::vector<User>> ListUsers(UserId after, std::size_t limit) override {
    return base_->ListUsers(after, limit);
  }
  Result<CredentialChangeResult> ChangeCredentials(const CredentialChange& change) override {
    return base_->ChangeCredentials(change);
  }
  Result<Device> AddDevice(Device device, std::size_t max_devices, std::string_view verified_password_hash) override {
    return base_->AddDevice(std::move(device), max_devices, verified_password_hash);
  }
  Result<Device> GetDevice(DeviceId id) override { return base_->GetDevice(id); }
  Result<std::vector<Device>> ListDevices(UserId user) override { return base_->ListDevices(user); }
  Status UpdateDevice(DeviceId id, const std::function<Status(Device*)>& edit) override {
    return base_->UpdateDevice(id, edit);
  }
  Result<Device> FindDeviceByTokenHash(std::string_view token_hash) override {
    return base_->FindDeviceByTokenHash(token_hash);
  }
  Status RemoveDevice(DeviceId id) override { return base_->RemoveDevice(id); }
  Result<Chat> CreateChat(Chat chat, std::vector<Participant> members, UserId creator, std::string announcement,
                          const CommitObserver& observer) override {
    return base_->CreateChat(chat, std::move(members), creator, std::move(announcement), observer);
  }
  Result<Chat> GetChat(ChatId id) override { return base_->GetChat(id); }
  Status UpdateChat(const Chat& chat) override { return base_->UpdateChat(chat); }
  Result<ChatId> FindDirectChat(UserId a, UserId b) override { return base_->FindDirectChat(a, b); }
  Result<std::vector<Chat>> ListChats(ChatId after, std::size_t limit) override {
    return base_->ListChats(after, limit);
  }
  Result<std::vector<Participant>> ListParticipants(ChatId chat) override { return base_->ListParticipants(chat); }
  Result<Participant> GetParticipant(ChatId chat, UserId user) override { return base_->GetParticipant(chat, user); }
  Result<std::vector<Participant>> ListUserChats(UserId user) override { return base_->ListUserChats(user); }
  Result<MemberList> Members(ChatId chat) override { return base_->Members(chat); }
  Result<MemberList> RecentMembers(ChatId chat) override { return base_->RecentMembers(chat); }
  Result<Message> UpdateMembership(ChatId chat, UserId actor, const MembershipPlanner& planner,
                                   const CommitObserver& observer) override {
    return base_->UpdateMembership(chat, actor, planner, observer);
  }
  Result<AppendResult> Append(Message draft, const CommitObserver& observer, const AppendAdmission& admit) override {
    return base_->Append(std::move(draft), observer, admit);
  }
  void AppendAsync(Message draft, CommitObserver observer, AppendDone done, AppendAdmission admit) override {
    base_->AppendAsync(std::move(draft), std::move(observer), std::move(done), std::move(admit));
  }
  Result<Message> DeleteMessage(ChatId chat, Seq seq, UserId actor, DeviceId actor_device, TimeMs now,
                                const std::function<Status(const Message&, const Participant&)>& authorize,
                                const CommitObserver& observer) override {
    return base_->DeleteMessage(chat, seq, actor, actor_device, now, authorize, observer);
  }
  Result<std::vector<Message>> ReadMessages(ChatId chat, Seq after, std::size_t limit) override {
    return base_->ReadMessages(chat, after, limit);
  }
  Result<std::vector<Message>> ReadMessagesBefore(ChatId chat, Seq before, std::size_t limit) override {
    return base_->ReadMessagesBefore(chat, before, limit);
  }
  Result<Message> GetMessage(ChatId chat, Seq seq) override { return base_->GetMessage(chat, seq); }
  Result<Seq> Head(ChatId chat) override { return base_->Head(chat); }
  Result<Message> FindSent(DeviceId device, std::string_view client_id) override {
    return base_->FindSent(device, client_id);
  }
  Result<Message> RecentSent(DeviceId device, std::string_view client_id) override {
    return base_->RecentSent(device, client_id);
  }
  Result<ReceiptCursor> Acknowledge(UserId user, DeviceId device, ChatId chat, Seq seq) override {
    return base_->Acknowledge(user, device, chat, seq);
  }
  Result<ReceiptCursor> MarkRead(UserId user, ChatId chat, Seq seq) override {
    return base_->MarkRead(user, chat, seq);
  }
  Result<Seq> DeviceCursor(DeviceId device, ChatId chat) override { return base_->DeviceCursor(device, chat); }
  Result<ReceiptCursor> GetReceipt(ChatId chat, UserId user) override { return base_->GetReceipt(chat, user); }
  Result<std::vector<ReceiptCursor>> ListReceipts(ChatId chat) override { return base_->ListReceipts(chat); }
  Result<std::vector<PendingChat>> PendingChats(UserId user, DeviceId device) override {
    return base_->PendingChats(user, device);
  }
  Status TouchDevice(DeviceId device, TimeMs when) override { return base_->TouchDevice(device, when); }
  Result<RetentionReport> SweepExpired(TimeMs now, TimeMs cursor_ttl_ms, std::size_t max_deletes) override {
    return base_->SweepExpired(now, cursor_ttl_ms, max_deletes);
  }
  Result<RetentionReport> CountExpired(TimeMs now, TimeMs cursor_ttl_ms, std::size_t max_deletes) override {
    return base_->CountExpired(now, cursor_ttl_ms, max_deletes);
  }
  Status CreateAttachment(const Attachment& attachment, std::uint64_t bytes_per_day) override {
    return base_->CreateAttachment(attachment, bytes_per_day);
  }
  Result<Attachment> GetAttachment(std::string_view id) override { return base_->GetAttachment(id); }
  Status CompleteAttachment(std::string_view id, TimeMs at) override { return base_->CompleteAttachment(id, at); }
  Result<std::vector<AttachmentRef>> ListAttachmentRefs(std::string_view id) override {
    return base_->ListAttachmentRefs(id);
  }
  Result<std::vector<std::string>> CollectAttachments(TimeMs now, TimeMs grace_ms, std::size_t max_deletes) override {
    return base_->CollectAttachments(now, grace_ms, max_deletes);
  }
  Status ReleaseAttachments(const std::vector<std::string>& ids) override { return base_->ReleaseAttachments(ids); }
  Status Block(const UserBlock& block, std::size_t max_blocked) override { return base_->Block(block, max_blocked); }
  Status Unblock(UserId user, UserId blocked) override { return base_->Unblock(user, blocked); }
  Result<std::vector<UserBlock>> ListBlocked(UserId user) override { return base_->ListBlocked(user); }
  Result<UserBan> GetBan(UserId user) override { return base_->GetBan(user); }
  Result<std::vector<UserBan>> ListBans(UserId after, std::size_t limit) override {
    return base_->ListBans(after, limit);
  }
  Status PutSpamFlag(const SpamFlag& flag) override { return base_->PutSpamFlag(flag); }
  Result<SpamFlag> GetSpamFlag(UserId user) override { return base_->GetSpamFlag(user); }
  Status DeleteSpamFlag(UserId user) override { return base_->DeleteSpamFlag(user); }
  Result<std::vector<SpamFlag>> ListSpamFlags(UserId after, std::size_t limit) override {
    return base_->ListSpamFlags(after, limit);
  }
  Result<SpamReportAdded> AddSpamReport(SpamReport report) override { return base_->AddSpamReport(std::move(report)); }
  Result<std::vector<SpamReport>> ListSpamReports(UserId sender, std::uint64_t after, std::size_t limit) override {
    return base_->ListSpamReports(sender, after, limit);
  }
  StoreStats Stats() override { return base_->Stats(); }
  std::string Describe() const override { return base_->Describe(); }
  Status Availability() override { return base_->Availability(); }
  Status Backup(const std::string& dir) override { return base_->Backup(dir); }
  Status CreateInvite(const Invite& invite) override { return base_->CreateInvite(invite); }
  Result<std::vector<Invite>> ListInvites(std::string_view after, std::size_t limit) override {
    return base_->ListInvites(after, limit);
  }
  Status DeleteInvite(std::string_view id) override { return base_->DeleteInvite(id); }
  Result<Invite> GetInvite(std::string_view id) override { return base_->GetInvite(id); }
  Result<User> CreateUserWithInvite(User user, std::string_view invite_id, std::string_view code_hash,
                                    TimeMs now) override {
    return base_->CreateUserWithInvite(std::move(user), invite_id, code_hash, now);
  }
  Result<Message> EraseMessage(ChatId chat, Seq seq, TimeMs now, const CommitObserver& observer) override {
    return base_->EraseMessage(chat, seq, now, observer);
  }
  Result<UserErasure> DeleteUser(UserId user, TimeMs now) override { return base_->DeleteUser(user, now); }
  Status DeleteChat(ChatId chat) override { return base_->DeleteChat(chat); }
  Status Export(const RecordSink& sink) override { return base_->Export(sink); }
  Status Import(const StoreRecord& record) override { return base_->Import(record); }

 private:
  std::shared_ptr<Store> base_;
};

}  // namespace chat

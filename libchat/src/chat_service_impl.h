// ChatServiceImpl: the ChatService behind ChatService::Create. One class, defined across files with one
// job each:
//   chat_service.cc             construction, events out, shared checks, retention, attachments
//   service_accounts.cc         registration, login and sessions, devices, passwords, presence data
//   service_moderation.cc       blocks, bans, disabling, rate limits, spam
//   service_chats.cc            groups, direct chats, membership changes, chat views
//   service_messages.cc         sending, sync, history, receipts, deletion, calls' log entries, typing
//
// Rules live here; ordering lives in the store. Every membership check that guards a write is made
// by the store under the chat's lock (Store::AppendAsync, UpdateMembership, DeleteMessage, the cursor
// calls), at the entry's place in the log; the checks made here before calling the store are early,
// cheap refusals (and keep non-members from learning anything), never the only ones. Events are
// published from commit observers, in sequence order, to the members the store says the entry was
// appended among.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "access_cache.h"
#include "attachments.h"
#include "denials.h"
#include "libchat/service.h"
#include "login_throttle.h"
#include "moderation.h"
#include "shared_rates.h"
#include "spam_service.h"
#include "token_buckets.h"
#include "typing_gate.h"

namespace chat::detail {

class ChatServiceImpl final : public ChatService {
 public:
  ChatServiceImpl(ServiceOptions options, std::shared_ptr<Store> store, std::shared_ptr<Bus> bus,
                  std::shared_ptr<BlobStore> blobs);
  ~ChatServiceImpl() override;

  // ---- accounts (service_accounts.cc)
  Result<User> Register(const NewAccount& account) override;
  Result<std::string> HashPassword(const std::string& password) override;
  Result<User> RegisterWithHash(const NewAccount& account, const std::string& password_hash) override;
  Result<Session> IssueSession(UserId user, const DeviceInfo& device) override;
  Result<User> VerifyPassword(const std::string& username, const std::string& password,
                              std::string_view source_address) override;
  Result<Session> Login(const std::string& username, const std::string& password, const DeviceInfo& device,
                        std::string_view source_address) override;
  Result<Session> Resume(const std::string& token) override;
  Result<Session> ChangePassword(UserId user, DeviceId device, const std::string& old_password,
                                 const std::string& new_password) override;
  Status Logout(UserId user, DeviceId device) override;
  Result<std::vector<Device>> ListDevices(UserId user) override;
  Status RemoveDevice(UserId user, DeviceId device) override;
  Status SetPushToken(UserId user, DeviceId device, const std::string& provider, const std::string& token) override;
  Status SetLastSeenVisibility(UserId user, LastSeenVisibility visibility) override;
  Result<User> GetUser(UserId user) override;
  Result<User> FindUser(const std::string& username) override;
  Status TouchDevice(DeviceId device) override;
  Result<std::optional<TimeMs>> LastSeen(UserId viewer, UserId user) override;
  Result<bool> SharesChat(UserId viewer, UserId user) override;
  Status CheckSession(UserId user, DeviceId device, std::string_view token_hash) override;

  // ---- moderation, rate limits, spam (service_moderation.cc)
  Status SetDisabled(UserId user, bool disabled) override;
  Status BlockUser(UserId user, UserId blocked) override;
  Status UnblockUser(UserId user, UserId blocked) override;
  Result<std::vector<UserBlock>> ListBlocked(UserId user) override;
  Result<bool> Blocks(UserId user, UserId other) override;
  Result<UserBan> BanUser(UserId user, const std::string& reason) override;
  Status UnbanUser(UserId user) override;
  Result<std::optional<UserBan>> GetBan(UserId user) override;
  Result<std::vector<UserBan>> ListBans(UserId after, std::size_t limit) override;
  Status ChargeDevice(DeviceId device, RateAction action, std::size_t units) override;
  Result<SpamReportAdded> ReportMessage(UserId reporter, ChatId chat, Seq seq, const std::string& reason) override;
  SpamStanding SpamStatus(UserId user) override;
  Status ClearSpam(UserId user) override;
  SpamCounters SpamCountersSinceStart() override;
  Status RestoreSpam();
  // On a bus between nodes: the login throttle's records go to a bucket every node shares, and the
  // rate limits' spends to the other nodes (docs/scaling.md, "Cluster-wide state"). An error if the
  // bus cannot hold the buckets. At creation.
  Status ShareState();

  // ---- chats (service_chats.cc)
  Result<Chat> CreateGroup(UserId creator, const std::string& name, const std::vector<UserId>& members,
                           const std::string& metadata, std::uint32_t member_limit, TimeMs retention_ms) override;
  Result<Chat> CreateDirect(UserId creator, UserId other) override;
  Result<Message> ModifyParticipants(UserId actor, ChatId chat, const ParticipantChange& change) override;
  Result<Message> Leave(UserId user, ChatId chat) override;
  Result<Message> UpdateChat(UserId actor, ChatId chat, const std::optional<std::string>& name,
                             const std::optional<std::string>& metadata) override;
  Result<ChatView> GetChat(UserId viewer, ChatId chat) override;
  Result<std::vector<ChatSummary>> ListChats(UserId user) override;
  Result<std::vector<UserId>> Members(ChatId chat, UserId viewer) override;

  // ---- messages (service_messages.cc)
  Result<AppendResult> Send(const SendRequest& request) override;
  void SendAsync(const SendRequest& request, std::function<void(Result<AppendResult>)> done) override;
  Result<SyncPage> Sync(UserId user, DeviceId device, ChatId chat, std::optional<Seq> after, std::size_t limit) override;
  Result<std::vector<PendingChat>> Pending(UserId user, DeviceId device) override;
  Result<std::vector<Message>> History(UserId user, ChatId chat, Seq before, std::size_t limit) override;
  Result<ReceiptCursor> Ack(UserId user, DeviceId device, ChatId chat, Seq seq) override;
  Result<ReceiptCursor> MarkRead(UserId user, ChatId chat, Seq seq) override;
  Result<std::vector<ReceiptCursor>> Receipts(UserId viewer, ChatId chat) override;
  Result<Message> DeleteMessage(UserId actor, DeviceId device, ChatId chat, Seq seq) override;
  Result<Message> RecordCall(ChatId chat, UserId caller, DeviceId device, const std::string& call_id,
                             const std::string& body) override;
  Status Typing(UserId user, DeviceId device, ChatId chat, bool typing) override;

  // ---- administrators' account and chat care, invitations (service_admin.cc)
  Result<std::vector<DeviceId>> ResetPassword(UserId user, const std::string& new_password) override;
  Result<UserDeletion> DeleteUser(UserId user) override;
  Result<std::size_t> DeleteChat(ChatId chat) override;
  Result<NewInvite> CreateInvite(std::uint32_t max_uses, TimeMs valid_for_ms, const std::string& note) override;
  Result<std::vector<Invite>> ListInvites(const std::string& after, std::size_t limit) override;
  Status RevokeInvite(const std::string& id) override;
  Result<User> RegisterWithInvite(const NewAccount& account, const std::string& code) override;

  // ---- retention and attachments (chat_service.cc)
  Result<RetentionReport> RunRetention(std::size_t max_deletes) override;
  Result<RetentionReport> PreviewRetention(std::size_t max_deletes) override;
  Result<UploadTicket> CreateAttachment(UserId user, const NewAttachment& request) override;
  Result<std::unique_ptr<AttachmentUpload>> BeginUpload(UserId user, const std::string& id) override;
  Result<AttachmentDownload> OpenAttachment(UserId user, const std::string& id) override;

 private:
  TimeMs Now() const { return options_.clock->NowMs(); }

  // ---- shared checks (chat_service.cc)
  Status UserExists(UserId u);
  // The chat's members (from the store's in-memory log order), or PermissionDenied unless `user` is
  // one of them; a chat that does not exist answers the same, so ids cannot be probed.
  Result<MemberList> RequireMember(ChatId chat, UserId user);
  Status CheckPassword(const std::string& password) const;
  static Status CheckDeviceInfo(const DeviceInfo& info);
  // Entries past the chat's retention are never served, swept or not yet (they are the oldest: the
  // log's timestamps never decrease).
  static bool Expired(const Message& m, const Chat& chat, TimeMs now) {
    return m.timestamp + chat.retention_ms <= now;
  }

  // ---- events (chat_service.cc)
  void PublishEntry(EventType type, const CommittedEntry& c);
  CommitObserver EntryObserver(EventType type);
  // Ends the live sessions of `device` (0: every device of the user) on every node, except those
  // authenticated with `keep_token_hash` (the device's new token). Forgets cached access first.
  void PublishRevoked(UserId user, DeviceId device, const std::string& keep_token_hash = {});

  // ---- accounts helpers (service_accounts.cc)
  Result<User> CheckCredentials(const std::string& username, const std::string& password, std::string_view source);
  Result<User> NewUserRecord(const NewAccount& a, bool check_password);
  // A new device of `user` with a fresh token; `verified_hash` is the password hash the caller checked
  // (the store refuses if it changed meanwhile), empty for an administrator's session.
  Result<Session> AddSessionDevice(User user, const DeviceInfo& info, std::string_view verified_hash);
  Status AccountClosed(const User& u);

  // ---- moderation helpers (service_moderation.cc)
  Status Charge(RateAction action, UserId user, DeviceId device, std::size_t units);
  Status CheckBlockTarget(UserId user, UserId other);
  Status RefuseIfBlocked(UserId target, UserId actor, const char* what);

  // ---- chats helpers (service_chats.cc)
  // Store::UpdateMembership for a change `actor` makes as a member of `chat`; a chat that does not
  // exist answers NotMember, as any chat one is not in.
  Result<Message> UpdateMembershipAsMember(ChatId chat, UserId actor, const MembershipPlanner& planner);
  // An administrator takes `users` out of `chat` (all members if `everyone`), direct chats included,
  // with a kMembership entry from the server (actor 0); ownership passes on as when leaving. NotFound
  // if the chat does not exist; OK, writing nothing, if none of them is a member.
  Status RemoveMembers(ChatId chat, const std::vector<UserId>& users, bool everyone, const char* action);

  // ---- messages helpers (service_messages.cc)
  // Checks a send request's shape and builds the draft entry. No store access.
  Result<Message> PrepareSend(const SendRequest& r);
  // What a send must pass under the chat's lock (AppendAdmission): ban and block, spam, rate.
  Status AdmitSend(const SendRequest& r, const AppendContext& ctx);
  // Moves a receipt cursor with `raise` (a store call that checks membership and the head) and, if
  // it moved, tells the chat's members.
  Result<ReceiptCursor> RaiseReceipt(UserId user, ChatId chat, const MemberList& members,
                                     const std::function<Result<ReceiptCursor>()>& raise);

  AccessCache access_{*store_};
  Attachments attachments_;
  TokenBuckets buckets_{options_.clock};
  // On a bus between nodes (ShareState): this node's spends go to the others every period, and
  // theirs come off buckets_. Declared after it: stopped first.
  static constexpr std::int64_t kSharedRatePeriodMs = 100;
  std::unique_ptr<SharedRates> rates_;
  LoginThrottle throttle_{options_.login_throttle, options_.clock};
  TypingGate typing_gate_{options_.limits.typing_per_user, options_.limits.typing_coalesce_ms,
                          options_.enforce_rate_limits, options_.clock};
  ModerationCache moderation_{*store_};
  SpamService spam_{options_, store_.get()};
  // On a bus between nodes (ShareState): spam points go to the other nodes every period.
  static constexpr std::int64_t kSharedSpamPeriodMs = 100;
  Subscription subscription_;
};

}  // namespace chat::detail

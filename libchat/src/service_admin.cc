// ChatService: what only an administrator does (the admin API): resetting a password, deleting an
// account or a chat with what hangs off it, and the invitations of RegistrationMode::kInvite.
#include "chat_service_impl.h"
#include "crypto.h"
#include "validate.h"

namespace chat::detail {
namespace {

constexpr std::uint32_t kMaxInviteUses = 10'000;
constexpr std::size_t kMaxInviteNoteBytes = 256;
// A code is 24 hex digits (96 random bits); its first 8 are the invitation's id.
constexpr std::size_t kInviteCodeBytes = 12;
constexpr std::size_t kInviteIdChars = 8;
// Messages read per page while looking for a deleted user's.
constexpr std::size_t kScanPage = 500;

bool IsInviteCode(const std::string& code) {
  if (code.size() != kInviteCodeBytes * 2) return false;
  return code.find_first_not_of("0123456789abcdef") == std::string::npos;
}

}  // namespace

Result<std::vector<DeviceId>> ChatServiceImpl::ResetPassword(UserId user, const std::string& new_password) {
  LIBCHAT_RETURN_IF_ERROR(CheckPassword(new_password));
  LIBCHAT_RETURN_IF_ERROR(store_->GetUser(user).status());
  LIBCHAT_ASSIGN_OR_RETURN(std::string hash, detail::HashPassword(new_password, options_.password_cost));
  // The one atomic path for credentials: the new hash and the end of every session in one write, so
  // a login racing it either finished before (its device is among those removed) or checks the new
  // hash.
  CredentialChange change;
  change.user = user;
  change.new_password_hash = std::move(hash);
  change.others = CredentialChange::Others::kRemove;
  LIBCHAT_ASSIGN_OR_RETURN(CredentialChangeResult changed, store_->ChangeCredentials(change));
  PublishRevoked(user, 0);
  return changed.others;
}

Result<UserDeletion> ChatServiceImpl::DeleteUser(UserId user) {
  LIBCHAT_RETURN_IF_ERROR(store_->GetUser(user).status());
  UserDeletion deleted;
  // 1. No session survives, and no new one starts (disabled), while the rest is undone.
  CredentialChange change;
  change.user = user;
  change.disabled = true;
  change.others = CredentialChange::Others::kRemove;
  LIBCHAT_ASSIGN_OR_RETURN(CredentialChangeResult changed, store_->ChangeCredentials(change));
  deleted.devices = changed.others.size();
  PublishRevoked(user, 0);
  // 2. Every message the user sent becomes a tombstone, in every chat (the ones they left too: no
  //    index leads there, so every chat's log is read).
  for (ChatId after = 0;;) {
    LIBCHAT_ASSIGN_OR_RETURN(auto chats, store_->ListChats(after, 100));
    if (chats.empty()) break;
    for (const Chat& chat : chats) {
      after = chat.id;
      for (Seq from = 0;;) {
        auto page = store_->ReadMessages(chat.id, from, kScanPage);
        if (!page.ok()) {
          if (page.error().IsNotFound()) break;  // Deleted meanwhile.
          return page.error();
        }
        for (const Message& m : *page) {
          from = m.seq;
          if (m.sender != user || m.deleted || !IsUserContent(m.kind)) continue;
          auto erased = store_->EraseMessage(chat.id, m.seq, Now(), EntryObserver(EventType::kMessageDeleted));
          if (erased.ok()) {
            ++deleted.messages;
          } else if (!erased.error().IsNotFound()) {  // NotFound: expired or deleted meanwhile.
            return erased.error();
          }
        }
        if (page->size() < kScanPage) break;
      }
    }
  }
  // 3. Out of every chat, direct ones included; an owner's chat passes to the next in line.
  LIBCHAT_ASSIGN_OR_RETURN(auto memberships, store_->ListUserChats(user));
  for (const Participant& p : memberships) {
    Status s = RemoveMembers(p.chat, {user}, /*everyone=*/false, "deleted");
    if (!s.ok() && !s.IsNotFound()) return s;
    if (s.ok()) ++deleted.chats;
  }
  // 4. The account itself, what it blocked and was blocked by, its ban, flag and uploads.
  LIBCHAT_ASSIGN_OR_RETURN(UserErasure erased, store_->DeleteUser(user, Now()));
  deleted.devices += erased.devices;
  deleted.blocks = erased.blocks;
  deleted.attachments = erased.attachments.size();
  LIBCHAT_RETURN_IF_ERROR(attachments_.RemoveBytes(erased.attachments));
  // Cached answers about the user (blocks, bans, access) go with it.
  moderation_.InvalidateBlocks(user);
  access_.Invalidate(user, 0);
  return deleted;
}

Result<std::size_t> ChatServiceImpl::DeleteChat(ChatId chat) {
  LIBCHAT_ASSIGN_OR_RETURN(auto members, store_->ListParticipants(chat));
  LIBCHAT_RETURN_IF_ERROR(store_->GetChat(chat).status());
  // The members' devices learn they are out (a membership entry, as for a removal) before the chat
  // goes; then nothing of it is left.
  LIBCHAT_RETURN_IF_ERROR(RemoveMembers(chat, {}, /*everyone=*/true, "chat_deleted"));
  LIBCHAT_RETURN_IF_ERROR(store_->DeleteChat(chat));
  return members.size();
}

Result<NewInvite> ChatServiceImpl::CreateInvite(std::uint32_t max_uses, TimeMs valid_for_ms, const std::string& note) {
  if (max_uses < 1 || max_uses > kMaxInviteUses) {
    return Status::InvalidArgument("an invitation is good for 1 to " + std::to_string(kMaxInviteUses) + " uses");
  }
  if (valid_for_ms < 0) return Status::InvalidArgument("an invitation's lifetime cannot be negative");
  LIBCHAT_RETURN_IF_ERROR(CheckText("note", note, kMaxInviteNoteBytes));
  NewInvite made;
  made.code = RandomHex(kInviteCodeBytes);
  Invite& i = made.invite;
  i.id = made.code.substr(0, kInviteIdChars);
  i.code_hash = HashToken(made.code);
  i.created_at = Now();
  i.expires_at = valid_for_ms == 0 ? 0 : i.created_at + valid_for_ms;
  i.max_uses = max_uses;
  i.note = note;
  LIBCHAT_RETURN_IF_ERROR(store_->CreateInvite(i));
  return made;
}

Result<std::vector<Invite>> ChatServiceImpl::ListInvites(const std::string& after, std::size_t limit) {
  return store_->ListInvites(after, limit);
}

Status ChatServiceImpl::RevokeInvite(const std::string& id) { return store_->DeleteInvite(id); }

Result<User> ChatServiceImpl::RegisterWithInvite(const NewAccount& account, const std::string& code) {
  // Checked before the Argon2id hash: a guesser pays the server nothing but a lookup.
  if (!IsInviteCode(code)) return Status::PermissionDenied("invalid, expired or used invitation code");
  const std::string id = code.substr(0, kInviteIdChars);
  const std::string hash = HashToken(code);
  LIBCHAT_ASSIGN_OR_RETURN(Invite invite, store_->GetInvite(id));
  if (invite.code_hash != hash || invite.uses >= invite.max_uses ||
      (invite.expires_at != 0 && invite.expires_at <= Now())) {
    return Status::PermissionDenied("invalid, expired or used invitation code");
  }
  // The store checks again, atomically with the account, after the hash.
  LIBCHAT_ASSIGN_OR_RETURN(User u, NewUserRecord(account, /*check_password=*/true));
  LIBCHAT_ASSIGN_OR_RETURN(u.password_hash, detail::HashPassword(account.password, options_.password_cost));
  return store_->CreateUserWithInvite(std::move(u), id, hash, Now());
}

}  // namespace chat::detail

// ChatService: creating chats and changing who is in them. Every change is planned by the store under the
// chat's lock against the members at the end of the log (Store::UpdateMembership), so two changes
// never both pass a check that only one of them may pass: the member limit, a single owner, a user
// joining twice. Checks made here before the planner only refuse early and keep non-members from
// learning anything (membership is always checked first).
#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "chat_service_impl.h"
#include "validate.h"

namespace chat::detail {

namespace {

using json = nlohmann::json;

const Participant* Find(const std::vector<Participant>& ps, UserId u) {
  for (const auto& p : ps) {
    if (p.user == u) return &p;
  }
  return nullptr;
}

// Who inherits ownership when the owner goes: the longest-standing admin, else the longest-standing
// member. `staying`: the members after the change, with their roles and join positions.
UserId Heir(const std::map<UserId, Participant>& staying) {
  const Participant* heir = nullptr;
  for (const auto& [u, p] : staying) {
    if (heir == nullptr || p.role > heir->role || (p.role == heir->role && p.joined_seq < heir->joined_seq)) heir = &p;
  }
  return heir == nullptr ? 0 : heir->user;
}

}  // namespace

Result<Message> ChatServiceImpl::UpdateMembershipAsMember(ChatId chat, UserId actor, const MembershipPlanner& planner) {
  bool planned = false;
  auto result = store_->UpdateMembership(
      chat, actor,
      [&planned, &planner](const Chat& c, const std::vector<Participant>& current) {
        planned = true;
        return planner(c, current);
      },
      EntryObserver(EventType::kChatUpdate));
  // The store answers NotFound for a chat that does not exist, before the planner runs; the caller
  // gets NotMember instead, as from any chat they are not in, so that chat ids cannot be probed.
  if (!result.ok() && !planned && result.error().IsNotFound()) return NotMember(chat);
  return result;
}

Result<Chat> ChatServiceImpl::CreateGroup(UserId creator, const std::string& name, const std::vector<UserId>& members,
                                          const std::string& metadata, std::uint32_t member_limit,
                                          TimeMs retention_ms) {
  LIBCHAT_RETURN_IF_ERROR(access_.CheckUser(creator));
  const Limits& l = options_.limits;
  LIBCHAT_RETURN_IF_ERROR(CheckText("name", name, l.max_chat_name_bytes, /*required=*/true));
  LIBCHAT_RETURN_IF_ERROR(CheckText("metadata", metadata, l.max_metadata_bytes));
  Chat chat;
  chat.kind = ChatKind::kGroup;
  chat.name = name;
  chat.metadata = metadata;
  chat.member_limit = member_limit == 0 ? l.default_member_limit : member_limit;
  if (chat.member_limit > l.max_member_limit) {
    return Status::InvalidArgument("member limit " + std::to_string(chat.member_limit) + " exceeds the maximum " +
                                   std::to_string(l.max_member_limit));
  }
  chat.retention_ms = retention_ms == 0 ? options_.default_retention_ms : retention_ms;
  if (chat.retention_ms < 0 || chat.retention_ms > options_.max_retention_ms) {
    return Status::InvalidArgument("retention exceeds the maximum of " +
                                   std::to_string(options_.max_retention_ms / kMsPerDay) + " days");
  }
  chat.created_by = creator;
  chat.created_at = Now();
  std::vector<Participant> parts;
  parts.push_back({0, creator, Role::kOwner, 0, 0});
  std::set<UserId> seen{creator};
  for (UserId m : members) {
    if (!seen.insert(m).second) continue;
    LIBCHAT_RETURN_IF_ERROR(UserExists(m));
    LIBCHAT_RETURN_IF_ERROR(RefuseIfBlocked(m, creator, "add them to a group"));
    parts.push_back({0, m, Role::kMember, 0, 0});
  }
  if (parts.size() > chat.member_limit) {
    return Status::FailedPrecondition("a group of " + std::to_string(parts.size()) + " exceeds the member limit of " +
                                      std::to_string(chat.member_limit));
  }
  LIBCHAT_RETURN_IF_ERROR(Charge(RateAction::kCreateChat, creator, 0, 1));
  json ann = {{"action", "created"}, {"kind", "group"}, {"name", name}, {"members", json::array()}};
  for (const auto& p : parts) ann["members"].push_back(p.user);
  return store_->CreateChat(chat, parts, creator, ann.dump(), EntryObserver(EventType::kChatUpdate));
}

Result<Chat> ChatServiceImpl::CreateDirect(UserId creator, UserId other) {
  if (creator == other) return Status::InvalidArgument("a direct chat needs another user");
  LIBCHAT_RETURN_IF_ERROR(access_.CheckUser(creator));
  LIBCHAT_RETURN_IF_ERROR(UserExists(other));
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto existing = store_->FindDirectChat(creator, other);
    if (existing.ok()) return store_->GetChat(*existing);
    if (!existing.error().IsNotFound()) return existing.error();
    // An existing chat is still returned: the block stops what is sent there, not reading it.
    if (attempt == 0) LIBCHAT_RETURN_IF_ERROR(RefuseIfBlocked(other, creator, "start a direct chat with them"));
    // Only a new chat is charged: asking again for an existing one costs nothing.
    if (attempt == 0) LIBCHAT_RETURN_IF_ERROR(Charge(RateAction::kCreateChat, creator, 0, 1));
    Chat chat;
    chat.kind = ChatKind::kDirect;
    chat.member_limit = 2;
    chat.retention_ms = options_.default_retention_ms;
    chat.created_by = creator;
    chat.created_at = Now();
    std::vector<Participant> parts = {{0, creator, Role::kMember, 0, 0}, {0, other, Role::kMember, 0, 0}};
    json ann = {{"action", "created"}, {"kind", "direct"}, {"members", {creator, other}}};
    auto made = store_->CreateChat(chat, parts, creator, ann.dump(), EntryObserver(EventType::kChatUpdate));
    // Lost a race with the other user creating the same chat: return theirs.
    if (made.ok() || made.error().code() != StatusCode::kAlreadyExists) return made;
  }
  return Status::Internal("direct chat creation did not converge");
}

Result<Message> ChatServiceImpl::ModifyParticipants(UserId actor, ChatId chat, const ParticipantChange& change) {
  // Membership first: a non-member learns nothing, not even whether the users named exist.
  LIBCHAT_RETURN_IF_ERROR(access_.CheckUser(actor));
  LIBCHAT_RETURN_IF_ERROR(RequireMember(chat, actor).status());
  if (change.add.empty() && change.remove.empty() && change.set_role.empty()) {
    return Status::InvalidArgument("nothing to change: give add, remove or roles");
  }
  std::size_t new_owners = 0;
  for (const auto& [u, role] : change.set_role) new_owners += role == Role::kOwner ? 1 : 0;
  if (new_owners > 1) return Status::InvalidArgument("a chat has one owner: name at most one new owner");
  for (UserId u : change.add) {
    LIBCHAT_RETURN_IF_ERROR(UserExists(u));
    LIBCHAT_RETURN_IF_ERROR(RefuseIfBlocked(u, actor, "add them to a group"));
  }
  auto planner = [&](const Chat& c, const std::vector<Participant>& current) -> Result<MembershipPlan> {
    const Participant* me = Find(current, actor);
    if (me == nullptr) return NotMember(c.id);
    if (c.kind == ChatKind::kDirect) return Status::FailedPrecondition("the members of a direct chat cannot change");
    if (me->role == Role::kMember) {
      return Status::PermissionDenied("only admins and owners may modify participants of chat " + std::to_string(c.id));
    }
    // The members after the change, with their roles: checked as a whole below.
    std::map<UserId, Participant> after;
    for (const auto& p : current) after.emplace(p.user, p);
    const Seq not_yet_joined = ~Seq{0};  // New members join last: never heirs before those already in.
    json added = json::array(), removed = json::array(), roles = json::array();
    std::size_t adding = 0;
    for (UserId u : change.add) {
      if (after.count(u)) continue;  // Already a member: adding again changes nothing.
      after.emplace(u, Participant{c.id, u, Role::kMember, 0, not_yet_joined});
      added.push_back(u);
      ++adding;
    }
    bool owner_left = false;
    for (UserId u : change.remove) {
      auto it = after.find(u);
      if (it == after.end() || Find(current, u) == nullptr) {
        return Status::NotFound("user " + std::to_string(u) + " is not a member of chat " + std::to_string(c.id));
      }
      if (it->second.role >= me->role && u != actor) {
        return Status::PermissionDenied("a " + std::string(ToString(me->role)) + " cannot remove a " +
                                        std::string(ToString(it->second.role)));
      }
      owner_left |= it->second.role == Role::kOwner;
      after.erase(it);
      removed.push_back(u);
    }
    for (const auto& [u, role] : change.set_role) {
      if (me->role != Role::kOwner) return Status::PermissionDenied("only the owner may change roles");
      if (u == actor) return Status::InvalidArgument("the owner's role changes by handing ownership to another member");
      auto it = after.find(u);
      if (it == after.end() || Find(current, u) == nullptr) {
        return Status::NotFound("user " + std::to_string(u) + " is not a member of chat " + std::to_string(c.id));
      }
      it->second.role = role;
      if (role == Role::kOwner) {
        // Handing over ownership: the old owner (if staying) becomes an admin.
        if (auto self = after.find(actor); self != after.end()) {
          self->second.role = Role::kAdmin;
          roles.push_back({{"userId", actor}, {"role", "admin"}});
        }
        owner_left = false;
      }
      roles.push_back({{"userId", u}, {"role", ToString(role)}});
    }
    MembershipPlan plan;
    plan.at = Now();
    json ann = {{"action", "modified"}, {"by", actor}};
    if (owner_left && !after.empty()) {
      // The owner removed themselves: ownership passes on, as when an owner leaves.
      const UserId heir = Heir(after);
      after[heir].role = Role::kOwner;
      roles.push_back({{"userId", heir}, {"role", "owner"}});
      ann["newOwner"] = heir;
    }
    std::size_t owners = 0;
    for (const auto& [u, p] : after) owners += p.role == Role::kOwner ? 1 : 0;
    if (!after.empty() && owners != 1) {
      return Status::FailedPrecondition("chat " + std::to_string(c.id) + " would have " + std::to_string(owners) +
                                        " owners; it must have one");
    }
    if (after.size() > c.member_limit && adding > 0) {
      return Status::FailedPrecondition("chat " + std::to_string(c.id) + " is full: the member limit is " +
                                        std::to_string(c.member_limit));
    }
    // Charged last, once the change is sure to be made: a refused change costs nothing.
    if (adding > 0) LIBCHAT_RETURN_IF_ERROR(Charge(RateAction::kAddParticipants, actor, 0, adding));
    for (const auto& [u, p] : after) {
      const Participant* before = Find(current, u);
      if (before == nullptr || before->role != p.role) plan.upserts.push_back({c.id, u, p.role, 0, 0});
    }
    for (const auto& p : current) {
      if (!after.count(p.user)) plan.removals.push_back(p.user);
    }
    ann["added"] = added;
    ann["removed"] = removed;
    ann["roles"] = roles;
    plan.announcement = ann.dump();
    return plan;
  };
  return UpdateMembershipAsMember(chat, actor, planner);
}

Status ChatServiceImpl::RemoveMembers(ChatId chat, const std::vector<UserId>& users, bool everyone,
                                      const char* action) {
  bool nothing = false;
  auto planner = [&](const Chat&, const std::vector<Participant>& current) -> Result<MembershipPlan> {
    MembershipPlan plan;
    plan.at = Now();
    std::map<UserId, Participant> staying;
    bool owner_goes = false;
    json removed = json::array();
    for (const auto& p : current) {
      const bool goes = everyone || std::find(users.begin(), users.end(), p.user) != users.end();
      if (!goes) {
        staying.emplace(p.user, p);
        continue;
      }
      plan.removals.push_back(p.user);
      removed.push_back(p.user);
      owner_goes = owner_goes || p.role == Role::kOwner;
    }
    if (plan.removals.empty()) {
      nothing = true;
      return Status::NotFound("nothing to remove");
    }
    json ann = {{"action", action}, {"removed", removed}, {"by", "admin"}};
    if (owner_goes) {
      if (const UserId heir = Heir(staying); heir != 0) {
        Participant promoted = staying[heir];
        promoted.role = Role::kOwner;
        plan.upserts.push_back(promoted);
        ann["newOwner"] = heir;
      }
    }
    plan.announcement = ann.dump();
    return plan;
  };
  auto result = store_->UpdateMembership(chat, 0, planner, EntryObserver(EventType::kChatUpdate));
  if (!result.ok() && nothing) return Status::Ok();
  return result.status();
}

Result<Message> ChatServiceImpl::Leave(UserId user, ChatId chat) {
  LIBCHAT_RETURN_IF_ERROR(access_.CheckUser(user));
  auto planner = [&](const Chat& c, const std::vector<Participant>& current) -> Result<MembershipPlan> {
    const Participant* me = Find(current, user);
    if (me == nullptr) return NotMember(c.id);
    if (c.kind == ChatKind::kDirect) return Status::FailedPrecondition("a direct chat cannot be left");
    MembershipPlan plan;
    plan.at = Now();
    plan.removals.push_back(user);
    json ann = {{"action", "left"}, {"userId", user}};
    if (me->role == Role::kOwner) {
      std::map<UserId, Participant> staying;
      for (const auto& p : current) {
        if (p.user != user) staying.emplace(p.user, p);
      }
      if (const UserId heir = Heir(staying); heir != 0) {
        Participant promoted = staying[heir];
        promoted.role = Role::kOwner;
        plan.upserts.push_back(promoted);
        ann["newOwner"] = heir;
      }
    }
    plan.announcement = ann.dump();
    return plan;
  };
  return UpdateMembershipAsMember(chat, user, planner);
}

Result<Message> ChatServiceImpl::UpdateChat(UserId actor, ChatId chat, const std::optional<std::string>& name,
                                            const std::optional<std::string>& metadata) {
  LIBCHAT_RETURN_IF_ERROR(access_.CheckUser(actor));
  LIBCHAT_RETURN_IF_ERROR(RequireMember(chat, actor).status());
  const Limits& l = options_.limits;
  if (name) LIBCHAT_RETURN_IF_ERROR(CheckText("name", *name, l.max_chat_name_bytes, true));
  if (metadata) LIBCHAT_RETURN_IF_ERROR(CheckText("metadata", *metadata, l.max_metadata_bytes));
  if (!name && !metadata) return Status::InvalidArgument("nothing to change: give name or metadata");
  auto planner = [&](const Chat& c, const std::vector<Participant>& current) -> Result<MembershipPlan> {
    const Participant* me = Find(current, actor);
    if (me == nullptr) return NotMember(c.id);
    if (c.kind == ChatKind::kDirect) return Status::FailedPrecondition("a direct chat has no name to change");
    if (me->role == Role::kMember) return Status::PermissionDenied("only admins and owners may change the chat");
    MembershipPlan plan;
    plan.at = Now();
    Chat updated = c;
    json ann = {{"action", "updated"}, {"by", actor}};
    if (name) ann["name"] = updated.name = *name;
    if (metadata) ann["metadata"] = updated.metadata = *metadata;
    plan.chat_update = updated;
    plan.announcement = ann.dump();
    return plan;
  };
  return UpdateMembershipAsMember(chat, actor, planner);
}

Result<ChatView> ChatServiceImpl::GetChat(UserId viewer, ChatId chat) {
  LIBCHAT_RETURN_IF_ERROR(access_.CheckUser(viewer));
  LIBCHAT_RETURN_IF_ERROR(RequireMember(chat, viewer).status());
  ChatView v;
  LIBCHAT_ASSIGN_OR_RETURN(v.chat, store_->GetChat(chat));
  LIBCHAT_ASSIGN_OR_RETURN(v.participants, store_->ListParticipants(chat));
  LIBCHAT_ASSIGN_OR_RETURN(v.head, store_->Head(chat));
  return v;
}

Result<std::vector<ChatSummary>> ChatServiceImpl::ListChats(UserId user) {
  LIBCHAT_RETURN_IF_ERROR(access_.CheckUser(user));
  LIBCHAT_ASSIGN_OR_RETURN(auto memberships, store_->ListUserChats(user));
  const TimeMs now = Now();
  std::vector<ChatSummary> out;
  for (const auto& p : memberships) {
    ChatSummary s;
    LIBCHAT_ASSIGN_OR_RETURN(s.chat, store_->GetChat(p.chat));
    s.role = p.role;
    LIBCHAT_ASSIGN_OR_RETURN(s.head, store_->Head(p.chat));
    LIBCHAT_ASSIGN_OR_RETURN(ReceiptCursor r, store_->GetReceipt(p.chat, user));
    s.read = std::max(r.read, p.joined_seq);
    s.unread = s.head > s.read ? s.head - s.read : 0;
    if (s.head > p.joined_seq) {
      auto last = store_->GetMessage(p.chat, s.head);
      if (last.ok() && !Expired(*last, s.chat, now)) {
        s.last_message = std::move(*last);
      } else if (!last.ok() && !last.error().IsNotFound()) {
        return last.error();
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

Result<std::vector<UserId>> ChatServiceImpl::Members(ChatId chat, UserId viewer) {
  auto members = store_->Members(chat);
  if (!members.ok()) return members.error().IsNotFound() ? NotMember(chat) : members.error();
  if (viewer != 0 && !std::binary_search((*members)->begin(), (*members)->end(), viewer)) return NotMember(chat);
  return **members;
}

}  // namespace chat::detail

#include "libchat/types.h"

#include <array>
#include <utility>

namespace chat {
namespace {

template <typename E, std::size_t N>
std::string_view NameOf(const std::array<std::pair<E, std::string_view>, N>& table, E value) {
  for (const auto& [e, name] : table) {
    if (e == value) return name;
  }
  return "unknown";
}

template <typename E, std::size_t N>
bool ValueOf(const std::array<std::pair<E, std::string_view>, N>& table, std::string_view s, E* out) {
  for (const auto& [e, name] : table) {
    if (name == s) {
      *out = e;
      return true;
    }
  }
  return false;
}

constexpr std::array<std::pair<ChatKind, std::string_view>, 2> kChatKinds{{
    {ChatKind::kDirect, "direct"}, {ChatKind::kGroup, "group"}}};
constexpr std::array<std::pair<Role, std::string_view>, 3> kRoles{{
    {Role::kMember, "member"}, {Role::kAdmin, "admin"}, {Role::kOwner, "owner"}}};
constexpr std::array<std::pair<MessageKind, std::string_view>, 8> kMessageKinds{{
    {MessageKind::kText, "text"},
    {MessageKind::kImage, "image"},
    {MessageKind::kAudio, "audio"},
    {MessageKind::kVideo, "video"},
    {MessageKind::kDocument, "document"},
    {MessageKind::kMembership, "membership"},
    {MessageKind::kDeletion, "deletion"},
    {MessageKind::kCall, "call"}}};
constexpr std::array<std::pair<LastSeenVisibility, std::string_view>, 3> kVisibilities{{
    {LastSeenVisibility::kEveryone, "everyone"},
    {LastSeenVisibility::kChatPartners, "chat_partners"},
    {LastSeenVisibility::kNobody, "nobody"}}};

constexpr std::array<std::pair<AttachmentKind, std::string_view>, 4> kAttachmentKinds{{
    {AttachmentKind::kAudio, "audio"},
    {AttachmentKind::kImage, "image"},
    {AttachmentKind::kVideo, "video"},
    {AttachmentKind::kDocument, "document"}}};
constexpr std::array<std::pair<AttachmentState, std::string_view>, 2> kAttachmentStates{{
    {AttachmentState::kPending, "pending"}, {AttachmentState::kComplete, "complete"}}};

}  // namespace

std::string_view ToString(ChatKind kind) { return NameOf(kChatKinds, kind); }
std::string_view ToString(Role role) { return NameOf(kRoles, role); }
std::string_view ToString(MessageKind kind) { return NameOf(kMessageKinds, kind); }
std::string_view ToString(LastSeenVisibility v) { return NameOf(kVisibilities, v); }
std::string_view ToString(AttachmentKind kind) { return NameOf(kAttachmentKinds, kind); }
std::string_view ToString(AttachmentState state) { return NameOf(kAttachmentStates, state); }
bool Parse(std::string_view s, AttachmentKind* out) { return ValueOf(kAttachmentKinds, s, out); }
bool Parse(std::string_view s, AttachmentState* out) { return ValueOf(kAttachmentStates, s, out); }
bool Parse(std::string_view s, ChatKind* out) { return ValueOf(kChatKinds, s, out); }
bool Parse(std::string_view s, Role* out) { return ValueOf(kRoles, s, out); }
bool Parse(std::string_view s, MessageKind* out) { return ValueOf(kMessageKinds, s, out); }
bool Parse(std::string_view s, LastSeenVisibility* out) { return ValueOf(kVisibilities, s, out); }

bool IsUserContent(MessageKind k) {
  return k == MessageKind::kText || k == MessageKind::kImage || k == MessageKind::kAudio ||
         k == MessageKind::kVideo || k == MessageKind::kDocument;
}

}  // namespace chat

// How the admin API shows libchat's entities in JSON (field names as in docs/admin.md, camelCase as in
// the chat protocol). The fields come from the codec's kAdmin form (libchat/codec/schema.h), which
// never holds a secret: no password hash, no token hash, no push token. What is here is only what the
// admin API derives on top of them.
#pragma once

#include "api.h"
#include "json_codec.h"

namespace chat::admin {

// The admin form of an entity (codec::kAdmin): User, Device, Chat, Participant, UserBan, SpamFlag,
// SpamReport. A Chat's admin form leaves out the opaque metadata, which may be kilobytes:
// ChatDetailJson adds it.
template <typename T>
Json AdminJson(const T& entity) {
  return codec::ToOrderedJson(entity, codec::kAdmin);
}

// The admin form, plus whether the device holds a session (a disabled account's devices keep their
// record but lose their token).
Json DeviceJson(const Device& d);
// Every field, metadata included (the protocol's form).
Json ChatDetailJson(const Chat& c);
// The metadata of an entry: ids, seq, sender, kind, size and time. The body only if `with_body`.
Json MessageJson(const Message& m, bool with_body);

// An invitation as admins see it: never its code (only its id, the code's first characters) nor the
// code's digest. `code`, when not empty, is added: the answer to its creation, the one time it shows.
Json InviteJson(const Invite& i, const std::string& code = {});
// What deleting a user removed.
Json UserDeletionJson(UserId user, const std::string& username, const UserDeletion& d);

// The `next` of a page: the id to pass as `after` for the following page, or null after the last one.
Json NextCursor(bool more, std::uint64_t last_id);

}  // namespace chat::admin

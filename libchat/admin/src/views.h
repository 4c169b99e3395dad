// How the admin API shows libchat's entities in JSON (field names as in docs/admin.md, camelCase as in
// the chat protocol). Secrets never appear: no password hash, no token hash, no push token.
#pragma once

#include "api.h"

namespace chat::admin {

Json UserJson(const User& u);
Json DeviceJson(const Device& d);
// Without the opaque metadata, which may be kilobytes: ChatDetailJson adds it.
Json ChatJson(const Chat& c);
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

// LocalStore: chat::Client's local copy (ClientOptions::local_store) in any KvEngine of the registry
// (LevelDB on disk, mem:// in tests): the signed-in session, the user's chats with their cursors, the
// messages, and the outbox of messages written but not yet acknowledged by the server.
//
// Keys (fixed-width hex numbers, so that keys sort by number):
//   session                         the Session JSON (token included)
//   chat/<chat>                     the chat summary as listChats returns it
//   cursor/<chat>                   the highest seq held with no gap below it (protocol.md rule 2)
//   msg/<chat>/<seq>                an entry as the server sent it
//   out/<order>                     an outbox item; `order` grows, so replay keeps the order written
//
// Thread-safe (the engine is). Calls block on the engine (disk for LevelDB).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <memory>
#include <string>
#include <vector>

#include "libchat/client.h"
#include "libchat/kv.h"

namespace chat::client_internal {

class LocalStore {
 public:
  // Opens `uri` with Registry::Default().MakeKvEngine. The registry's error for a bad URI.
  static Result<std::unique_ptr<LocalStore>> Open(const std::string& uri);

  // The session of the last Login/Resume; NotFound if none.
  Result<Session> LoadSession();
  // Saves `s`; a different user than the stored one first clears everything (another account's copy
  // must not show).
  Status SaveSession(const Session& s);
  // Forgets everything (logout).
  Status Clear();

  Status PutChat(const ChatSummary& s);
  Status RemoveChat(ChatId chat);
  Result<std::vector<ChatSummary>> Chats();

  // Stores entries (each under its chat and seq; a later copy of the same seq replaces the earlier,
  // except that a tombstone stays one) and, in the same batch, the chat's cursor if `cursor` > 0.
  Status PutEntries(ChatId chat, const std::vector<Message>& entries, Seq cursor);
  // Marks a stored entry deleted (empty body, no attachments), as messageDeleted says. OK if absent.
  Status Tombstone(ChatId chat, Seq seq);
  // The newest `limit` entries of `chat` with seq < `before` (0: all), oldest first.
  Result<std::vector<Message>> Messages(ChatId chat, std::size_t limit, Seq before);
  Result<std::map<ChatId, Seq>> Cursors();

  // Appends to the outbox (durably: synced before it returns).
  Status AddOutbox(const OutboxItem& item);
  // In the order written.
  Result<std::vector<OutboxItem>> Outbox();
  Status RemoveOutbox(const std::string& client_id);
  Status FailOutbox(const std::string& client_id, const std::string& error);

 private:
  explicit LocalStore(std::unique_ptr<KvEngine> engine);
  Result<std::string> OutboxKey(const std::string& client_id);
  Status ClearPrefix(const std::string& prefix, KvBatch* batch);

  std::unique_ptr<KvEngine> engine_;
  std::mutex mu_;                 // Orders outbox appends.
  std::uint64_t next_order_ = 0;  // GUARDED_BY(mu_)
};

}  // namespace chat::client_internal

// The spam side of ChatService: admits and scores sends through a SpamGuard, stores the flags it
// raises, takes users' reports, and lets admins clear an account. ChatServiceImpl owns one and calls
// it from its send path, so chat_service.cc only wires it in.
//
// Thread-safe. Admit never blocks; Score reads the store only for facts it has not memoised (an
// account's age, a chat's kind) and, for new accounts, whether a recipient is a stranger; it writes
// only when an account becomes flagged or suspended.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "libchat/options.h"
#include "libchat/service.h"
#include "libchat/store.h"
#include "shared_spam.h"
#include "spam_guard.h"

namespace chat::detail {

// Most bytes a report's reason may have.
inline constexpr std::size_t kMaxReportReasonBytes = 256;

class SpamService {
 public:
  // Neither is owned; both must outlive this.
  SpamService(const ServiceOptions& options, Store* store);

  // Takes back the stored flags (scores and suspensions survive a restart). A store without spam
  // tables (NotSupported) has none.
  Status Restore();

  // Before a send is charged and stored: SpamGuard::Admit.
  Status Admit(UserId sender) { return guard_.Admit(sender); }
  // After a send is admitted: scores it, and stores the flag if the account was just flagged or
  // suspended. `members`: the chat's members, ascending.
  void Score(const SendRequest& request, const std::vector<UserId>& members);

  // ChatService::ReportMessage.
  Result<SpamReportAdded> Report(UserId reporter, ChatId chat, Seq seq, const std::string& reason);
  // ChatService::ClearSpam: on every node when shared (Unavailable if the others could not be told).
  Status Clear(UserId user);
  // On a bus between nodes, before serving: this node's points reach the others every `period_ms`
  // and theirs add to this node's scores; clears reach them all (shared_spam.h).
  void Share(std::shared_ptr<SharedKv> kv, std::int64_t period_ms);
  SpamStanding Standing(UserId user) { return guard_.Standing(user); }
  SpamCounters counters() const { return guard_.counters(); }

 private:
  // The points of a reporter's n-th report about a sender (ReportOptions).
  double ReportPoints(std::uint64_t earlier_by_reporter) const;
  bool SharesOtherChat(UserId a, UserId b, ChatId except);
  void Persist(const std::optional<SpamFlag>& flag);
  // Persist for a flag that other nodes' points raised here, with the stored flag's reasons kept.
  void PersistRemote(SpamFlag flag);

  const ServiceOptions& options_;
  Store* const store_;
  SpamGuard guard_;
  // Set by Share before the service serves, read-only after. Declared after guard_: stopped first.
  std::unique_ptr<SharedSpam> shared_;
};

}  // namespace chat::detail

// Spam scoring: a small set of rules looks at every send and adds points to the sender's score, which
// decays over time; a score over a threshold throttles the sender, flags the account for admins, and
// over a higher one suspends sending (docs/security.md, "Spam scoring"). Users' spam reports feed
// the same score.
//
// Embedders add their own rules (SpamOptions::extra_rules) next to the built-in ones.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "libchat/types.h"

namespace chat {

// One send as the rules see it: validated, from a member of the chat, not yet stored.
struct SpamSend {
  UserId sender = 0;
  // How long ago the sender registered.
  TimeMs account_age_ms = 0;
  ChatId chat = 0;
  ChatKind chat_kind = ChatKind::kGroup;
  // The chat's members (the sender included), ascending. Valid during Evaluate only.
  const std::vector<UserId>* members = nullptr;
  // The message body (may be empty for an attachment-only message).
  std::string_view text;
  TimeMs now = 0;
  // True if the sender shares a chat other than `chat` with `user` (they knew each other before).
  // Reads the store: call it only when the answer matters (e.g. for a new account).
  std::function<bool(UserId user)> shares_other_chat;
};

// What one rule adds to the sender's score for one send, and why (shown to admins).
struct SpamVerdict {
  double score = 0;
  std::string reason;  // Empty when score is 0.
};

// A spam rule. Implementations keep whatever per-sender state they need (e.g. a sliding window), with
// bounded memory. Thread-safe: Evaluate is called concurrently for different (and the same) senders.
// Must be quick: it runs on the send path of every message.
class SpamRule {
 public:
  SpamRule() = default;
  SpamRule(const SpamRule&) = delete;
  SpamRule& operator=(const SpamRule&) = delete;
  virtual ~SpamRule() = default;
  // A short stable name, e.g. "duplicate-content".
  virtual std::string_view name() const = 0;
  // The points this send adds (0 for ordinary use).
  virtual SpamVerdict Evaluate(const SpamSend& send) = 0;
  // Drops what the rule remembers of `user` (an admin cleared the account). Default: nothing.
  virtual void Forget(UserId /*user*/) {}
};

// Rule 1: the same or near-same text sent to many distinct chats in a short window. Texts are compared
// after normalisation: letters only (ASCII lower-cased, other UTF-8 kept), digits, punctuation and
// whitespace dropped.
struct DuplicateContentOptions {
  // Default: 10 minutes.
  TimeMs window_ms = 10 * 60 * 1000;
  // Normalised texts shorter than this are ignored ("ok", "thanks"). Default: 8 bytes.
  std::size_t min_normalized_bytes = 8;
  // Distinct chats one text may go to within the window for free. Default: 3.
  std::size_t free_chats = 3;
  // Points for each further distinct chat. Default: 4.
  double points_per_chat = 4;
};

// Rule 2: link floods (many URLs in one message or in a window) and mention floods (many @mentions
// in one message). A URL is "http://", "https://" or "www."; a mention is '@' followed by a name.
struct FloodOptions {
  // URLs one message may carry for free; each further one adds points_per_link. Default: 3 and 2.
  std::size_t free_links_per_message = 3;
  double points_per_link = 2;
  // URLs a sender may send within window_ms for free; each further one adds points_per_window_link.
  // Default: 20 within 10 minutes, then 1 point each.
  std::size_t free_links_per_window = 20;
  TimeMs window_ms = 10 * 60 * 1000;
  double points_per_window_link = 1;
  // @mentions one message may carry for free; each further one adds points_per_mention.
  // Default: 10 and 1.
  std::size_t free_mentions_per_message = 10;
  double points_per_mention = 1;
};

// Rule 3: a new account messaging many strangers: direct chats (and groups of two, which are the same
// thing) with users it shares no other chat with.
struct NewAccountOptions {
  // Accounts younger than this are new. Default: 24 hours.
  TimeMs new_account_ms = kMsPerDay;
  // Distinct strangers a new account may message within window_ms for free. Default: 5 per hour.
  std::size_t free_strangers = 5;
  TimeMs window_ms = 60 * 60 * 1000;
  // Points for each further stranger. Default: 5.
  double points_per_stranger = 5;
};

// Rule 4: spam reports (reportMessage). The first report by a reporter about a sender counts the most;
// further reports by the same reporter add little, and one reporter alone stays below the throttle.
struct ReportOptions {
  // Points of a reporter's first report about a sender. Default: 8.
  double first_report_points = 8;
  // Points of each further report by the same reporter about the same sender. Default: 0.5.
  double repeat_report_points = 0.5;
  // Most points one reporter can add about one sender, over all their reports. Default: 9.
  double max_points_per_reporter = 9;
  // Reporters whose account is younger than this are new: their reports weigh
  // `new_reporter_weight` of the points above, and all new reporters together add at most
  // `max_points_from_new_reporters` about one sender (decaying with the score), so that accounts made
  // for the purpose cannot silence anyone. Default: 7 days, 0.25, 4 points.
  TimeMs new_reporter_ms = 7 * kMsPerDay;
  double new_reporter_weight = 0.25;
  double max_points_from_new_reporters = 4;
  // A reporter in poor standing (their own score at or above throttle_score, or flagged) adds nothing.
};

struct SpamOptions {
  // False turns spam scoring off (load generators, benchmarks): no rule runs, nothing is throttled,
  // flagged or suspended. Reports are still stored. Default: true.
  bool enabled = true;
  // Score at which the sender's sends are cut to `throttled_send`. Default: 10.
  double throttle_score = 10;
  // Score at which the account is flagged for admins (stored, with reasons). Default: 20.
  double flag_score = 20;
  // Score at which sending is refused until the score decays below it or an admin clears the flag.
  // Default: 40.
  double suspend_score = 40;
  // The score halves every half_life_ms. Default: 30 minutes.
  TimeMs half_life_ms = 30 * 60 * 1000;
  // The send rate of a throttled sender: a token bucket of `throttled_burst` sends refilled at
  // `throttled_per_minute`. Default: 3 at once, then 6 a minute.
  double throttled_burst = 3;
  double throttled_per_minute = 6;

  DuplicateContentOptions duplicate_content;
  FloodOptions flood;
  NewAccountOptions new_account;
  ReportOptions reports;

  // Rules of the embedder, run after the built-in ones (shared: options are copied). Default: none.
  std::vector<std::shared_ptr<SpamRule>> extra_rules;
};

// An account flagged for admins: its score when last updated and why. Stored (Store::PutSpamFlag).
struct SpamFlag {
  UserId user = 0;
  double score = 0;        // At updated_at.
  TimeMs flagged_at = 0;   // When the score first reached flag_score.
  TimeMs updated_at = 0;
  bool suspended = false;  // The score had reached suspend_score at updated_at.
  std::vector<std::string> reasons;  // Oldest first, at most kMaxSpamReasons.
};
inline constexpr std::size_t kMaxSpamReasons = 16;

// A user's report of a message as spam (reportMessage). Stored (Store::AddSpamReport).
struct SpamReport {
  std::uint64_t id = 0;  // Assigned by the store, ascending.
  UserId reporter = 0;
  UserId sender = 0;     // Who sent the reported message.
  ChatId chat = 0;
  Seq seq = 0;
  std::string reason;    // Optional, from the reporter.
  TimeMs reported_at = 0;
};

// What Store::AddSpamReport did.
struct SpamReportAdded {
  SpamReport report;       // The stored report (the earlier one if `duplicate`).
  bool duplicate = false;  // The reporter had reported this message already; nothing was stored.
  // Reports by the same reporter about the same sender stored before this one.
  std::uint64_t earlier_by_reporter = 0;
};

// Where a user stands, for admins (ChatService::SpamStatus).
struct SpamStanding {
  UserId user = 0;
  double score = 0;  // Decayed to now.
  bool throttled = false;
  bool flagged = false;
  bool suspended = false;
};

// Counters since start, for metrics.
struct SpamCounters {
  std::uint64_t throttled = 0;  // Sends refused by the spam throttle.
  std::uint64_t refused = 0;    // Sends refused because sending is suspended.
  std::uint64_t flagged = 0;    // Accounts newly flagged.
  std::uint64_t reports = 0;    // New reports.
};

}  // namespace chat

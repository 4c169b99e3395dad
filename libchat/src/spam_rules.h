// The built-in spam rules (SpamOptions: duplicate content, link and mention floods, new accounts
// messaging strangers) and the text helpers they share. Each rule keeps a small sliding window per
// sender behind its own mutex; windows of senders idle for longer than the window are swept when the
// map doubles, so memory follows the number of recent senders.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "libchat/spam.h"
#include "mutex.h"

namespace chat::detail {

// `text` with letters only: ASCII letters lower-cased, bytes of other UTF-8 characters kept as they
// are, ASCII digits, punctuation, whitespace and controls dropped, and so are invisible characters
// (zero-width and other format characters, variation selectors, non-ASCII spaces).
// "Buy NOW!!! 50% off" -> "buynowoff"; "b\u200buy now" -> "buynow".
std::string NormalizeForSpam(std::string_view text);
// FNV-1a, 64 bits.
std::uint64_t Fingerprint(std::string_view normalized);
// Fingerprint(NormalizeForSpam(text)) and the normalised length, in one pass without a copy.
struct NormalizedText {
  std::uint64_t fingerprint;
  std::size_t bytes;
};
NormalizedText FingerprintText(std::string_view text);
// URLs ("http://", "https://", "www.", any case) in `text`.
std::size_t CountLinks(std::string_view text);
// Mentions: '@' at the start or after a non-name byte, followed by a name byte ([A-Za-z0-9_.-]).
std::size_t CountMentions(std::string_view text);

// Sliding windows keyed by sender, swept of idle senders when the map doubles. REQUIRES: callers
// hold their own mutex around every call.
template <typename State>
class PerSender {
 public:
  // The state of `user`, created empty, marked active at `now`.
  State& At(UserId user, TimeMs now, TimeMs idle_ms) {
    if (states_.size() >= sweep_at_) Sweep(now, idle_ms);
    Entry& e = states_[user];
    e.last_ms = now;
    return e.state;
  }
  void Erase(UserId user) { states_.erase(user); }
  std::size_t size() const { return states_.size(); }

 private:
  struct Entry {
    State state;
    TimeMs last_ms = 0;
  };
  void Sweep(TimeMs now, TimeMs idle_ms) {
    for (auto it = states_.begin(); it != states_.end();) {
      it = now - it->second.last_ms > idle_ms ? states_.erase(it) : std::next(it);
    }
    sweep_at_ = std::max<std::size_t>(1024, states_.size() * 2);
  }
  std::unordered_map<UserId, Entry> states_;
  std::size_t sweep_at_ = 1024;
};

class DuplicateContentRule final : public SpamRule {
 public:
  explicit DuplicateContentRule(DuplicateContentOptions options) : options_(options) {}
  std::string_view name() const override { return "duplicate-content"; }
  SpamVerdict Evaluate(const SpamSend& send) override;
  void Forget(UserId user) override;

 private:
  struct Sent {
    TimeMs at;
    std::uint64_t fingerprint;
    ChatId chat;
  };
  // At most this many recent sends are remembered per sender (oldest dropped first).
  static constexpr std::size_t kMaxRemembered = 256;
  const DuplicateContentOptions options_;
  Mutex mu_;
  PerSender<std::deque<Sent>> senders_ GUARDED_BY(mu_);
};

class FloodRule final : public SpamRule {
 public:
  explicit FloodRule(FloodOptions options) : options_(options) {}
  std::string_view name() const override { return "flood"; }
  SpamVerdict Evaluate(const SpamSend& send) override;
  void Forget(UserId user) override;

 private:
  struct Links {
    TimeMs at;
    std::size_t count;
  };
  const FloodOptions options_;
  Mutex mu_;
  PerSender<std::deque<Links>> senders_ GUARDED_BY(mu_);
};

class NewAccountRule final : public SpamRule {
 public:
  explicit NewAccountRule(NewAccountOptions options) : options_(options) {}
  std::string_view name() const override { return "new-account-strangers"; }
  SpamVerdict Evaluate(const SpamSend& send) override;
  void Forget(UserId user) override;

 private:
  struct Contact {
    TimeMs at;
    UserId user;
    bool stranger;
  };
  const NewAccountOptions options_;
  Mutex mu_;
  PerSender<std::deque<Contact>> senders_ GUARDED_BY(mu_);
};

// The built-in rules with `options`' parameters, then options.extra_rules.
std::vector<std::shared_ptr<SpamRule>> MakeSpamRules(const SpamOptions& options);

}  // namespace chat::detail

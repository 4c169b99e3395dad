#include "spam_rules.h"

#include <algorithm>

namespace chat::detail {
namespace {

// "10 min" / "1 h": windows as people read them in reasons.
std::string Minutes(TimeMs ms) {
  if (ms % (60 * 60 * 1000) == 0) return std::to_string(ms / (60 * 60 * 1000)) + " h";
  return std::to_string(std::max<TimeMs>(ms / 60000, 1)) + " min";
}

// ASCII only, without the C library's locale lookups: these run over every message body.
constexpr unsigned char AsciiLower(unsigned char c) { return c >= 'A' && c <= 'Z' ? c | 0x20 : c; }
constexpr bool IsAsciiLetter(unsigned char c) { return AsciiLower(c) >= 'a' && AsciiLower(c) <= 'z'; }
constexpr bool IsAsciiDigit(unsigned char c) { return c >= '0' && c <= '9'; }
constexpr bool IsAsciiSpace(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

bool IsNameByte(unsigned char c) { return IsAsciiLetter(c) || IsAsciiDigit(c) || c == '_' || c == '.' || c == '-'; }

bool StartsWithNoCase(std::string_view text, std::size_t pos, std::string_view prefix) {
  if (text.size() - pos < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (AsciiLower(static_cast<unsigned char>(text[pos + i])) != static_cast<unsigned char>(prefix[i])) return false;
  }
  return true;
}

constexpr std::uint64_t kFnvOffset = 1469598103934665603ULL;
constexpr std::uint64_t kFnvPrime = 1099511628211ULL;

// Characters that change nothing a reader sees: zero-width and other format characters (Unicode
// category Cf: soft hyphen, ZWSP/ZWNJ/ZWJ, direction marks and overrides, word joiner, BOM, tags),
// variation selectors, fillers, and the non-ASCII spaces. Dropped like ASCII spaces and punctuation, so
// that "b\u200buy now" is the same text as "buy now".
bool IsInvisible(char32_t cp) {
  return cp == 0x00A0 || cp == 0x00AD || cp == 0x034F || cp == 0x061C || cp == 0x115F || cp == 0x1160 ||
         cp == 0x1680 || cp == 0x17B4 || cp == 0x17B5 || (cp >= 0x180B && cp <= 0x180F) ||
         (cp >= 0x2000 && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202F) || (cp >= 0x205F && cp <= 0x206F) ||
         cp == 0x3000 || cp == 0x3164 || (cp >= 0xFE00 && cp <= 0xFE0F) || cp == 0xFEFF || cp == 0xFFA0 ||
         (cp >= 0xFFF0 && cp <= 0xFFFB) || (cp >= 0x1D173 && cp <= 0x1D17A) || (cp >= 0xE0000 && cp <= 0xE0FFF);
}

// Calls emit(byte) for each byte NormalizeForSpam keeps: ASCII letters lower-cased, the bytes of
// non-ASCII characters that are not invisible. One pass, no copy.
template <typename Emit>
void ForEachNormalized(std::string_view text, Emit emit) {
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      if (IsAsciiLetter(c)) emit(AsciiLower(c));
      ++i;
      continue;
    }
    // A UTF-8 sequence: its length from the lead byte; bodies are valid UTF-8, but a stray byte is
    // kept on its own rather than read past.
    const std::size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (len == 1 || i + len > text.size()) {
      emit(c);
      ++i;
      continue;
    }
    char32_t cp = len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
    if (!IsInvisible(cp)) {
      for (std::size_t k = 0; k < len; ++k) emit(static_cast<unsigned char>(text[i + k]));
    }
    i += len;
  }
}

template <typename T>
void DropOlderThan(std::deque<T>* window, TimeMs cutoff) {
  while (!window->empty() && window->front().at < cutoff) window->pop_front();
}

}  // namespace

std::string NormalizeForSpam(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  ForEachNormalized(text, [&out](unsigned char c) { out.push_back(static_cast<char>(c)); });
  return out;
}

std::uint64_t Fingerprint(std::string_view normalized) {
  std::uint64_t h = kFnvOffset;
  for (unsigned char c : normalized) {
    h ^= c;
    h *= kFnvPrime;
  }
  return h;
}

NormalizedText FingerprintText(std::string_view text) {
  NormalizedText out{kFnvOffset, 0};
  ForEachNormalized(text, [&out](unsigned char c) {
    out.fingerprint = (out.fingerprint ^ static_cast<std::uint64_t>(c)) * kFnvPrime;
    ++out.bytes;
  });
  return out;
}

std::size_t CountLinks(std::string_view text) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = AsciiLower(static_cast<unsigned char>(text[i]));
    if (c != 'h' && c != 'w') continue;
    std::size_t len = 0;
    if (StartsWithNoCase(text, i, "https://")) len = 8;
    else if (StartsWithNoCase(text, i, "http://")) len = 7;
    else if (StartsWithNoCase(text, i, "www.") && (i == 0 || text[i - 1] != '/')) len = 4;
    if (len == 0) continue;
    ++n;
    // Skip the rest of the URL so that "https://www.x" counts once.
    i += len;
    while (i < text.size() && !IsAsciiSpace(static_cast<unsigned char>(text[i]))) ++i;
  }
  return n;
}

std::size_t CountMentions(std::string_view text) {
  std::size_t n = 0;
  for (std::size_t i = 0; i + 1 < text.size(); ++i) {
    if (text[i] != '@') continue;
    if (i > 0 && IsNameByte(static_cast<unsigned char>(text[i - 1]))) continue;  // an e-mail address
    if (IsNameByte(static_cast<unsigned char>(text[i + 1]))) ++n;
  }
  return n;
}

// ---------------------------------------------------------------- duplicate content
SpamVerdict DuplicateContentRule::Evaluate(const SpamSend& send) {
  // One pass, no copy: the same fingerprint as Fingerprint(NormalizeForSpam(text)).
  const NormalizedText normalized = FingerprintText(send.text);
  if (normalized.bytes < options_.min_normalized_bytes) return {};
  const std::uint64_t fp = normalized.fingerprint;
  MutexLock lock(&mu_);
  auto& window = senders_.At(send.sender, send.now, options_.window_ms);
  DropOlderThan(&window, send.now - options_.window_ms);
  std::vector<ChatId> chats;
  for (const Sent& s : window) {
    if (s.fingerprint == fp) chats.push_back(s.chat);
  }
  const bool new_chat = std::find(chats.begin(), chats.end(), send.chat) == chats.end();
  if (!new_chat) return {};  // The same text again in the same chat is not this rule's business.
  window.push_back({send.now, fp, send.chat});
  if (window.size() > kMaxRemembered) window.pop_front();
  std::sort(chats.begin(), chats.end());
  const std::size_t distinct = static_cast<std::size_t>(std::unique(chats.begin(), chats.end()) - chats.begin()) + 1;
  if (distinct <= options_.free_chats) return {};
  return {options_.points_per_chat,
          "same text sent to " + std::to_string(distinct) + " chats within " + Minutes(options_.window_ms)};
}

void DuplicateContentRule::Forget(UserId user) {
  MutexLock lock(&mu_);
  senders_.Erase(user);
}

// ---------------------------------------------------------------- link and mention floods
SpamVerdict FloodRule::Evaluate(const SpamSend& send) {
  SpamVerdict v;
  auto add = [&v](double points, std::string reason) {
    if (points <= 0) return;
    v.score += points;
    if (!v.reason.empty()) v.reason += "; ";
    v.reason += reason;
  };
  const std::size_t links = CountLinks(send.text);
  if (links > options_.free_links_per_message) {
    add(static_cast<double>(links - options_.free_links_per_message) * options_.points_per_link,
        std::to_string(links) + " links in one message");
  }
  if (links > 0) {
    MutexLock lock(&mu_);
    auto& window = senders_.At(send.sender, send.now, options_.window_ms);
    DropOlderThan(&window, send.now - options_.window_ms);
    std::size_t total = links;
    for (const Links& l : window) total += l.count;
    window.push_back({send.now, links});
    if (total > options_.free_links_per_window) {
      const std::size_t extra = std::min(links, total - options_.free_links_per_window);
      add(static_cast<double>(extra) * options_.points_per_window_link,
          std::to_string(total) + " links within " + Minutes(options_.window_ms));
    }
  }
  const std::size_t mentions = CountMentions(send.text);
  if (mentions > options_.free_mentions_per_message) {
    add(static_cast<double>(mentions - options_.free_mentions_per_message) * options_.points_per_mention,
        std::to_string(mentions) + " mentions in one message");
  }
  return v;
}

void FloodRule::Forget(UserId user) {
  MutexLock lock(&mu_);
  senders_.Erase(user);
}

// ---------------------------------------------------------------- new accounts messaging strangers
SpamVerdict NewAccountRule::Evaluate(const SpamSend& send) {
  if (send.account_age_ms >= options_.new_account_ms) return {};
  if (send.members == nullptr) return {};
  // A group of two is a direct chat by another name: counted the same.
  if (send.chat_kind != ChatKind::kDirect && send.members->size() != 2) return {};
  UserId other = 0;
  for (UserId m : *send.members) {
    if (m != send.sender) other = m;
  }
  if (other == 0) return {};
  {
    MutexLock lock(&mu_);
    auto& window = senders_.At(send.sender, send.now, options_.window_ms);
    DropOlderThan(&window, send.now - options_.window_ms);
    for (const Contact& c : window) {
      if (c.user == other) return {};  // Counted already within the window.
    }
  }
  // Outside the lock: it reads the store.
  const bool stranger = !send.shares_other_chat || !send.shares_other_chat(other);
  MutexLock lock(&mu_);
  auto& window = senders_.At(send.sender, send.now, options_.window_ms);
  for (const Contact& c : window) {
    if (c.user == other) return {};  // A concurrent send to the same user counted it.
  }
  window.push_back({send.now, other, stranger});
  if (!stranger) return {};
  const auto strangers = static_cast<std::size_t>(
      std::count_if(window.begin(), window.end(), [](const Contact& c) { return c.stranger; }));
  if (strangers <= options_.free_strangers) return {};
  return {options_.points_per_stranger, "new account messaged " + std::to_string(strangers) +
                                            " strangers within " + Minutes(options_.window_ms)};
}

void NewAccountRule::Forget(UserId user) {
  MutexLock lock(&mu_);
  senders_.Erase(user);
}

std::vector<std::shared_ptr<SpamRule>> MakeSpamRules(const SpamOptions& options) {
  std::vector<std::shared_ptr<SpamRule>> rules = {
      std::make_shared<DuplicateContentRule>(options.duplicate_content),
      std::make_shared<FloodRule>(options.flood),
      std::make_shared<NewAccountRule>(options.new_account),
  };
  for (const auto& r : options.extra_rules) {
    if (r) rules.push_back(r);
  }
  return rules;
}

}  // namespace chat::detail

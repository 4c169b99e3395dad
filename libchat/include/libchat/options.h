// Options of the chat service: limits and policies, each with its default.
#pragma once

#include <cstddef>
#include <cstdint>

#include "libchat/clock.h"
#include "libchat/spam.h"
#include "libchat/types.h"

namespace chat {

// A token bucket: holds up to `burst` tokens and gains `per_minute` tokens a minute; each action
// takes one (a participant addition takes one per user added). An action finding too few tokens
// fails with ResourceExhausted and a retry-after. `burst` 0 disables the limit.
struct RateLimit {
  double burst = 0;
  double per_minute = 0;
};

struct Limits {
  // Largest message body in bytes (UTF-8). Default: 64 KiB.
  std::size_t max_body_bytes = 64 * 1024;
  // Devices one user may have at once. Default: 5.
  std::size_t max_devices_per_user = 5;
  // Users one user may block (blockUser); beyond it FailedPrecondition. Default: 10000.
  std::size_t max_blocked_users = 10000;
  // Length of an administrator's ban reason (BanUser). Default: 1000.
  std::size_t max_ban_reason_bytes = 1000;
  // Member limit of a new chat when the creator does not ask for one. Default: 100.
  std::uint32_t default_member_limit = 100;
  // Highest member limit a chat may be given. Default: 1000.
  std::uint32_t max_member_limit = 1000;
  // Attachments one message may reference. Default: 10.
  std::size_t max_attachments_per_message = 10;
  // Longest chat name, in bytes. Default: 128.
  std::size_t max_chat_name_bytes = 128;
  // Largest chat metadata, in bytes. Default: 4 KiB.
  std::size_t max_metadata_bytes = 4096;
  // Longest client message id, in bytes. Default: 64.
  std::size_t max_client_id_bytes = 64;
  // Longest display name / email / avatar URL, in bytes. Default: 64 / 254 / 1024.
  std::size_t max_display_name_bytes = 64;
  std::size_t max_email_bytes = 254;
  std::size_t max_url_bytes = 1024;
  // Shortest and longest accepted password, in bytes. Default: 8 / 1024.
  std::size_t min_password_bytes = 8;
  std::size_t max_password_bytes = 1024;
  // Largest page of messages one sync or history call returns. Default: 500.
  std::size_t max_page = 500;
  // Largest attachment of each kind, in bytes. Default: audio 16 MiB, image 16 MiB, video 100 MiB,
  // document 100 MiB.
  std::uint64_t max_audio_bytes = 16ULL << 20;
  std::uint64_t max_image_bytes = 16ULL << 20;
  std::uint64_t max_video_bytes = 100ULL << 20;
  std::uint64_t max_document_bytes = 100ULL << 20;
  // Bytes one user may announce with createAttachment per UTC day (declared sizes, counted when the
  // upload is announced, whether or not it completes). Default: 1 GiB.
  std::uint64_t attachment_bytes_per_day = 1ULL << 30;

  // Rate limits (docs/security.md). Each action is charged to the user's bucket and, where the caller
  // names a device, to the device's: a runaway device cannot spend its user's whole allowance.
  // Messages sent (send). Default: per device 30 at once then 120/min; per user 60 then 240/min.
  RateLimit send_per_device{30, 120};
  RateLimit send_per_user{60, 240};
  // Chats created (groups and new direct chats). Default: per device 10 then 10/min; per user 20
  // then 20/min.
  RateLimit create_chat_per_device{10, 10};
  RateLimit create_chat_per_user{20, 20};
  // Users added to chats (ModifyParticipants' add). Default: per device 100 then 100/min; per user
  // 200 then 200/min.
  RateLimit add_participants_per_device{100, 100};
  RateLimit add_participants_per_user{200, 200};
  // Uploads announced (createAttachment). Default: per device 20 then 20/min; per user 40 then 40/min.
  RateLimit upload_per_device{20, 20};
  RateLimit upload_per_user{40, 40};
  // Accounts registered (register), charged by chat::Server before the password is hashed: per source
  // address (an IPv6 client counts as its /64) and for the whole server. Default: per address 5 at
  // once then 10 an hour; overall 30 at once then 30 a minute.
  RateLimit register_per_address{5, 10.0 / 60};
  RateLimit register_global{30, 30};
  // typing events published, per user, after coalescing (a repeat of the same state in the same chat
  // within typing_coalesce_ms is accepted and not sent again). Default: 20 at once, then 60 a minute.
  RateLimit typing_per_user{20, 60};
  // A repeat of the user's last typing state in a chat within this window is not published again.
  // Default: 3 s.
  TimeMs typing_coalesce_ms = 3000;
  // Sessions resumed (resume), per user: every connect announces presence to all chat partners.
  // Charged by chat::Server. Default: 20 at once, then 20 a minute.
  RateLimit resume_per_user{20, 20};
};

// Exponential backoff of password checks (Login, VerifyPassword, ChangePassword) after failures.
// Failures are counted per (account name, source) pair, per source address and per account name
// (whether or not it exists). After `free_failures` failures in a row, the next check is refused until
// `base_delay_ms` after the last failure; each further failure doubles the delay, up to
// `max_delay_ms`. A pair's and an address's own failures hold it back; the account's count, made of
// every address's failures, holds back only sources that have failed against that account themselves,
// so nobody can lock the owner out from elsewhere. A success clears the pair's record (and takes its
// failures back from the account's); a record with no failure for `forget_after_ms` is forgotten.
struct LoginThrottleOptions {
  // Default: 5.
  std::uint32_t free_failures = 5;
  // Default: 1 s.
  TimeMs base_delay_ms = 1000;
  // Default: 15 minutes.
  TimeMs max_delay_ms = 15 * 60 * 1000;
  // Default: 1 hour.
  TimeMs forget_after_ms = 60 * 60 * 1000;
  // Records kept at most (accounts and addresses together); beyond, the stalest is dropped, so an
  // attacker spraying names costs bounded memory. Default: 100000.
  std::size_t max_records = 100000;
  // Failed checks over every account and address: each failure takes a token. While the bucket is
  // empty, sources with failures of their own are refused (clean ones still pass), which bounds the
  // Argon2id work that wrong passwords and unknown names cost the server. burst 0: no global budget.
  // Default: 100 at once, then 120 a minute.
  RateLimit global_failures{100, 120};
  // False turns the throttle off (load generators that log in thousands of users from one address).
  // Default: true.
  bool enabled = true;
};

// How expensive password hashing is. kInteractive is libsodium's recommended interactive Argon2id
// setting; kMinimum exists for tests and load generators only.
enum class PasswordCost { kInteractive, kModerate, kMinimum };

struct ServiceOptions {
  Limits limits;
  // Retention of a new chat when its creator does not ask for one. Default: 30 days.
  TimeMs default_retention_ms = 30 * kMsPerDay;
  // Longest retention a chat may be given. Default: 365 days.
  TimeMs max_retention_ms = 365 * kMsPerDay;
  // Cursors of devices not seen for this long are swept. Default: 30 days.
  TimeMs device_cursor_ttl_ms = 30 * kMsPerDay;
  // Lifetime of a session token since its device last resumed. Default: 90 days.
  TimeMs session_ttl_ms = 90 * kMsPerDay;
  // An attachment that no message references (an upload never finished, or finished but never sent,
  // or whose messages retention deleted) is deleted, bytes included, once it has been unreferenced for
  // this long. Also the lifetime of an upload ticket. Default: 24 hours.
  TimeMs attachment_orphan_ttl_ms = kMsPerDay;
  PasswordCost password_cost = PasswordCost::kInteractive;
  // Default: LoginThrottleOptions' defaults.
  LoginThrottleOptions login_throttle;
  // False turns off every RateLimit of `limits` (not the login throttle): for load generators and
  // for tests of other features that send faster than people do. Default: true.
  bool enforce_rate_limits = true;
  // Spam scoring of sends and reports (docs/security.md, "Spam scoring"). Default: SpamOptions'
  // defaults (on).
  SpamOptions spam;
  // Not owned; must outlive the service. Default: the system clock.
  Clock* clock = SystemClock();
};

}  // namespace chat

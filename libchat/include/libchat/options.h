// Options of the chat service: limits and policies, each with its default.
#pragma once

#include <cstddef>
#include <cstdint>

#include "libchat/clock.h"
#include "libchat/types.h"

namespace chat {

struct Limits {
  // Largest message body in bytes (UTF-8). Default: 64 KiB.
  std::size_t max_body_bytes = 64 * 1024;
  // Devices one user may have at once. Default: 5.
  std::size_t max_devices_per_user = 5;
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
  // Not owned; must outlive the service. Default: the system clock.
  Clock* clock = SystemClock();
};

}  // namespace chat

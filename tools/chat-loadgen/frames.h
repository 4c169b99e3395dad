// The protocol v1 frames chat-loadgen sends and reads (docs/protocol.md). Requests are built as
// strings directly; server frames are read with JsonScanner, without building a document, because
// reading a newMessage event is the one thing the tool does for every delivery. Setup results (login,
// createChat, getChat), read once per client, go through nlohmann::json instead.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace chat::loadgen {

// ---- Requests. `id` is the request id the server echoes. ----

std::string EncodeHello(std::int64_t id);
std::string EncodeRegister(std::int64_t id, std::string_view username, std::string_view password);
std::string EncodeLogin(std::int64_t id, std::string_view username, std::string_view password,
                        std::string_view device_name);
std::string EncodeResume(std::int64_t id, std::string_view token);
// A group chat with the caller as owner and `members` (user ids) as members. `member_limit` 0 leaves
// the server's default.
std::string EncodeCreateGroup(std::int64_t id, std::string_view name, const std::vector<std::uint64_t>& members,
                              std::uint32_t member_limit);
std::string EncodeGetChat(std::int64_t id, std::uint64_t chat);
std::string EncodeSendMessage(std::int64_t id, std::uint64_t chat, std::string_view client_id, std::string_view body);
// sync with explicit cursors: (chat, last seq held) pairs; entries after each, oldest first.
std::string EncodeSync(std::int64_t id, const std::vector<std::pair<std::uint64_t, std::uint64_t>>& chats,
                       std::uint32_t limit);

// Appends `s` to `out` as a JSON string literal (quotes and escapes included).
void AppendJsonString(std::string* out, std::string_view s);

// ---- Server frames ----

// The fields of a message entry the tool uses. Views into the frame's text.
struct MessageView {
  std::uint64_t chat = 0;
  std::uint64_t seq = 0;
  std::string_view body;  // Raw JSON string contents (escapes not decoded).
};

struct ServerFrame {
  enum class Type { kMalformed, kResponse, kNewMessage, kOtherEvent };
  Type type = Type::kMalformed;
  // kResponse. The tool only sends integer ids; -1 for a string or null id.
  std::int64_t id = -1;
  bool ok = false;
  std::string_view error_code;      // When !ok.
  std::int64_t retry_after_ms = -1;  // When the error carries retryAfterMs.
  std::string_view result;          // Raw JSON of "result" when ok.
  // kNewMessage.
  MessageView message;
};

// Reads one text frame. Never throws; a frame that is neither a response nor an event is kMalformed.
ServerFrame ParseServerFrame(std::string_view text);

// sendMessage result: the message's seq. False if the result lacks it.
bool ParseSendResult(std::string_view result, std::uint64_t* seq);

// One chat's page of a sync result.
struct SyncPage {
  std::uint64_t chat = 0;
  std::uint64_t head = 0;
  bool has_more = false;
  std::uint64_t last_seq = 0;  // Seq of the page's last entry; 0 if it had none.
};

// Receives the entries of a sync result as they are read.
class SyncVisitor {
 public:
  virtual ~SyncVisitor() = default;
  // Called for every entry of every chat page, in the order of the response.
  virtual void OnSyncedMessage(const MessageView& message) = 0;
};

// Reads a sync result, calling `visitor` per entry and appending one SyncPage per chat to `pages`.
// False if the result is malformed (the pages read so far are kept).
bool ParseSyncResult(std::string_view result, SyncVisitor& visitor, std::vector<SyncPage>* pages);

// Results read once per client during setup (nlohmann::json; exceptions do not escape).
struct LoginResult {
  std::uint64_t user = 0;
  std::uint64_t device = 0;
  std::string token;
};
bool ParseLoginResult(std::string_view result, LoginResult* out);
// createChat -> chat.id.
bool ParseCreateChatResult(std::string_view result, std::uint64_t* chat);
// getChat -> head (the chat's last seq).
bool ParseGetChatResult(std::string_view result, std::uint64_t* head);

}  // namespace chat::loadgen

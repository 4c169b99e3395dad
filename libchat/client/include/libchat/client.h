// chat::Client: a protocol v1 client for chatd (docs/protocol.md) over WebSocket. Tests, chatctl,
// chat-loadgen and the examples use it; products may embed it.
//
// One background I/O thread per client reads frames and demultiplexes them: responses go to the call
// waiting for their request id, events to a buffer (WaitForEvent/TakeEvents) or to an event handler.
// Calls block the calling thread until their response arrives or `request_timeout` passes.
//
// Ordering helpers: the client tracks, per chat, the highest sequence number it has seen without a
// gap (LastSeq). Entry events (newMessage, chatUpdate, messageDeleted) at or below it are dropped as
// duplicates; an entry beyond LastSeq+1 is delivered with `gap` set, and the application should sync
// that chat from LastSeq. Sync results and sendMessage responses advance LastSeq too.
//
// Thread-safe: any thread may call any method, except from inside the event handler, which must not
// block (no Call from the handler).
//
// Offline (ClientOptions::local_store): the client keeps a local copy of the signed-in user's session,
// chats, messages and per-chat cursors in a KvEngine (LevelDB on disk), written as entries arrive
// (events, sync and history results), and an outbox of messages written with Post that the server has
// not acknowledged yet. Open() succeeds with the server down; the Local* readers and Post work with
// no connection; Reconnect() resumes the stored session, syncs every chat from its stored cursor and
// sends the outbox in order, each message with the client id it was written with, so that nothing is
// appended twice (docs/protocol.md, "Rules for client writers").
//
// JSON is exchanged as text: arguments and results are JSON documents in std::string, so that this
// header needs no JSON library.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "libchat/result.h"
#include "libchat/service.h"
#include "libchat/status.h"
#include "libchat/store.h"
#include "libchat/types.h"

namespace chat {

struct ClientOptions {
  // Time allowed to connect, upgrade to WebSocket and complete hello. Default: 5 s.
  std::chrono::milliseconds connect_timeout{5000};
  // How long a call waits for its response. Default: 10 s.
  std::chrono::milliseconds request_timeout{10000};
  // Send hello {"version":1} when connecting. Default: true (false only to test the handshake).
  bool hello = true;
  // Events buffered for WaitForEvent/TakeEvents when no handler is set; beyond this the oldest are
  // dropped (and counted by dropped_events()). Default: 100000.
  std::size_t max_buffered_events = 100000;
  // Largest frame accepted from the server. Default: 64 MiB.
  std::size_t max_frame_bytes = 64 * 1024 * 1024;
  // Path of the WebSocket endpoint. Default: "/ws".
  std::string path = "/ws";
  // Connect over TLS (wss://). Default: false (ws://).
  bool tls = false;
  // PEM file of the CA certificates (or the self-signed server certificate) to trust; empty: the
  // system's default CAs. Default: "".
  std::string tls_ca_file;
  // Check the server's certificate chain and that it names the host (DNS name or IP address).
  // Default: true (false only for tests of failure paths).
  bool tls_verify = true;
  // The name to check the certificate against and send as SNI; empty: the host given to Connect.
  // Default: "".
  std::string tls_server_name;
  // The local copy (see above): a KvEngine URI of Registry::Default(), e.g. "leveldb:///home/me/.chat"
  // or "mem://". Needs libchat::plugins for leveldb://. Default: "" (no local copy: the Local* readers,
  // Post, Synchronize and Reconnect's sync answer NotSupported).
  std::string local_store;
  // Other nodes of the same deployment, "HOST:PORT" each (IPv6 as "[::1]:8080"), for failover (docs/
  // scaling.md, "Clients"): Connect and Open try them in order when the address they were given cannot
  // be reached, and Reconnect() tries the node it was last connected to, then the next ones in turn,
  // each once, and stays on the first that answers. Every node serves every session: the session is
  // resumed there (and, with a local copy, synchronised). Default: none.
  std::vector<std::string> failover;
};

// What a message carries besides its text (sendMessage's optional fields).
struct SendOptions {
  // text, or the kind of the attachments: image, audio, video, document. Default: text.
  MessageKind kind = MessageKind::kText;
  // Ids of complete attachments, all of `kind` (at least one unless kind is text). Default: none.
  std::vector<std::string> attachments;
  // The seq of the message this one answers. Default: 0 (none).
  Seq reply_to = 0;
};

// A message written with Post and not yet acknowledged by the server, in the local outbox.
struct OutboxItem {
  std::string client_id;  // The idempotency key it is sent (and resent) with.
  ChatId chat = 0;
  MessageKind kind = MessageKind::kText;
  std::string body;
  std::vector<std::string> attachments;
  Seq reply_to = 0;
  // Empty while it waits; the server's refusal (e.g. "permission_denied: ...") once refused for good:
  // such a message is not sent again (RemoveFromOutbox, or Post it anew).
  std::string error;
};

// Bytes transferred so far, of the total: called as an attachment's bytes go out or come in.
using TransferProgress = std::function<void(std::uint64_t done, std::uint64_t total)>;

// callInvite's answer.
struct CallInvitation {
  std::string call_id;
  std::vector<UserId> callees;
  TimeMs ring_until = 0;
  std::string ice_servers;  // JSON array: RTCConfiguration.iceServers (TURN credentials included).
};

// callHangup's answer.
struct CallResult {
  std::string call_id;
  std::string outcome;  // missed, rejected, busy or completed.
  TimeMs duration_ms = 0;
};

// The answer to one request.
struct Reply {
  bool ok = false;
  std::string result;   // ok: the "result" object as JSON text.
  std::string code;     // !ok: the error code ("permission_denied", "bad_request", ...). A call that got
                        // no answer has code "unavailable".
  std::string message;  // !ok: the error message.
  std::int64_t retry_after_ms = -1;  // !ok: the server's retry hint, when given.
  std::string raw;      // The whole response frame (empty if none arrived).

  // OK, or the error as a Status: service codes map to their StatusCode; protocol codes map to
  // InvalidArgument (bad_request, frame_too_large) or NotSupported (unknown_command,
  // unsupported_version), with the wire code leading the message. A service error carries
  // retry_after_ms as Status::retry_after_ms().
  Status status() const;
};

struct ClientEvent {
  std::string name;  // "newMessage", "chatUpdate", "receipt", "messageDeleted", "presence", "typing", "call...".
  std::string data;  // The "data" object as JSON text.
  ChatId chat = 0;   // The chat it concerns, when it concerns one.
  // For entry events (newMessage, chatUpdate, messageDeleted): the entry, its seq, and whether entries
  // between LastSeq(chat) and it are missing (sync the chat from LastSeq).
  std::optional<Message> entry;
  Seq seq = 0;
  bool gap = false;
  UserId user = 0;   // presence, typing: whose.
};

struct CloseInfo {
  int code = 0;  // WebSocket close code; 0 when the connection broke without a close frame.
  std::string reason;
};

struct SyncResult {
  std::vector<SyncPage> chats;
  bool more = false;  // Something was left out (paging or size): call sync again.
};

struct PresenceInfo {
  UserId user = 0;
  bool visible = false;  // False: the user's privacy setting hides their presence from you.
  bool online = false;
  std::optional<TimeMs> last_seen;
};

class Client {
 public:
  // Connects to ws://host:port/ws (wss:// with options.tls) and (unless options.hello is false)
  // performs hello. Blocks up to connect_timeout. Unavailable if the server cannot be reached or the
  // TLS handshake fails (e.g. an untrusted certificate); InvalidArgument if options.tls_ca_file
  // cannot be loaded; the server's error if hello fails.
  static Result<std::unique_ptr<Client>> Connect(const std::string& host, std::uint16_t port,
                                                 ClientOptions options = {});
  // Like Connect, but with options.local_store set it also succeeds when the server cannot be reached:
  // the client starts disconnected and reads its local copy; Reconnect() connects later. The local
  // store's error if it cannot be opened. Blocks up to connect_timeout.
  static Result<std::unique_ptr<Client>> Open(const std::string& host, std::uint16_t port, ClientOptions options = {});
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  // Close()s and joins the I/O thread.
  ~Client();

  // ---- Raw protocol ----
  // Sends {"id":<next>,"cmd":cmd, ...fields of args_json} and waits for the response. args_json must
  // be a JSON object (its "id"/"cmd" are overwritten); otherwise a bad_request reply is returned
  // without sending anything.
  Reply Call(std::string_view cmd, std::string_view args_json = "{}");
  // Sends one text frame exactly as given (to test the server's handling of bad input).
  Status SendText(std::string frame);
  // The next response no call was waiting for: one with a null id (the answer to a frame without a
  // usable id) or with an id this client did not issue (the answer to a SendText frame). Waits up to
  // `timeout`; nullopt on timeout or when the connection closed. The most recent 1000 are kept.
  std::optional<Reply> WaitForUnmatchedReply(std::chrono::milliseconds timeout);

  // ---- Events ----
  using EventHandler = std::function<void(const ClientEvent&)>;
  // Events go to `handler` (on the I/O thread, in arrival order) instead of the buffer. Empty: buffer.
  void SetEventHandler(EventHandler handler);
  // Removes and returns the first buffered or arriving event for which `match` is true; events that
  // do not match stay buffered. nullopt on timeout or when the connection closed with none matching.
  std::optional<ClientEvent> WaitForEvent(const std::function<bool(const ClientEvent&)>& match,
                                          std::chrono::milliseconds timeout);
  // Removes and returns every buffered event.
  std::vector<ClientEvent> TakeEvents();
  std::uint64_t dropped_events() const;

  // ---- Per-chat cursor ----
  // The highest seq of `chat` seen without a gap (0: none).
  Seq LastSeq(ChatId chat) const;
  // LastSeq of every chat seen so far: after a Reconnect without a local copy, Sync(Cursors()) returns
  // exactly what was missed meanwhile.
  std::map<ChatId, Seq> Cursors() const;
  // Sets it, e.g. from the application's own storage after a restart.
  void SetLastSeq(ChatId chat, Seq seq);

  // ---- Connection ----
  bool connected() const;
  // Waits until the connection is closed (by either side); the close code and reason.
  std::optional<CloseInfo> WaitForClose(std::chrono::milliseconds timeout);
  // Closes with 1000 and waits briefly for the server's answer. Idempotent.
  void Close();
  // After the connection closed: connects again (hello), to the same node or, when it cannot be
  // reached, to the next of options.failover; resumes the session this client signed in with (Login,
  // Resume, or the one in the local store) and, with a local copy, Synchronize()s (without one, call
  // Sync(Cursors())). FailedPrecondition while connected; Unavailable if no node can be reached;
  // resume's error (e.g. Unauthenticated: the local copy is then cleared). Blocks.
  Status Reconnect();
  // The same, to another address from now on (the server moved, or another node serves it). Not
  // concurrently with another Reconnect or Open of this client.
  Status Reconnect(const std::string& host, std::uint16_t port);

  // The node this client is (or was last) connected to, "HOST:PORT".
  std::string server() const;

  // The signed-in user and device (0 before login/resume).
  UserId user() const;
  DeviceId device() const;

  // ---- Typed commands (see docs/protocol.md for each) ----
  Result<User> Register(const std::string& username, const std::string& password,
                        const std::string& display_name = "");
  // The session's token is set (shown once: keep it to resume).
  Result<Session> Login(const std::string& username, const std::string& password, const std::string& device_kind,
                        const std::string& device_name = "");
  Result<Session> Resume(const std::string& token);
  Status Logout();
  // Every other session of the account ends; returns this device's new token (the old one is void).
  Result<std::string> ChangePassword(const std::string& old_password, const std::string& new_password);
  Result<std::vector<Device>> ListDevices();
  // Signed in: removes one of your devices.
  Status RemoveDevice(DeviceId device);
  // Not signed in: removes a device with the account's credentials (e.g. at the device limit).
  Status RemoveDevice(const std::string& username, const std::string& password, DeviceId device);
  Status SetPrivacy(LastSeenVisibility last_seen);
  Result<User> LookupUser(const std::string& username);
  // By id: yourself or someone you share a chat with (NotFound otherwise).
  Result<User> LookupUser(UserId user);
  Result<Chat> CreateGroup(const std::string& name, const std::vector<UserId>& members);
  Result<Chat> CreateDirect(UserId other);
  Result<ChatView> GetChat(ChatId chat);
  Result<std::vector<ChatSummary>> ListChats();
  // Result: message.{id, seq, timestamp, chat, client_id, body} and duplicate.
  Result<AppendResult> SendMessage(ChatId chat, const std::string& client_id, const std::string& body);
  Result<AppendResult> SendMessage(ChatId chat, const std::string& client_id, const std::string& body,
                                   const SendOptions& more);
  // after: chat -> sync entries after this seq. Empty: every chat with something this device has not
  // acknowledged, from its stored cursors. limit 0: the server's default page.
  Result<SyncResult> Sync(const std::map<ChatId, Seq>& after = {}, std::size_t limit = 0);
  // Entries before `before` (0: the newest), newest first.
  Result<std::vector<Message>> History(ChatId chat, Seq before = 0, std::size_t limit = 0);
  Result<ReceiptCursor> Ack(ChatId chat, Seq seq);
  Result<ReceiptCursor> MarkRead(ChatId chat, Seq seq);
  Result<Message> DeleteMessage(ChatId chat, Seq seq);
  Status Typing(ChatId chat, bool typing);
  Result<std::vector<PresenceInfo>> GetPresence(const std::vector<UserId>& users);
  Status Ping();
  Status BlockUser(UserId user);
  Status UnblockUser(UserId user);
  Status ReportMessage(ChatId chat, Seq seq, const std::string& reason = "");

  // ---- The local copy (ClientOptions::local_store); no connection needed ----
  // NotSupported without a local store; the store's error otherwise.
  // The session of the last Login/Resume (token included): what Reconnect resumes. NotFound if none.
  Result<Session> LocalSession();
  // The chats as last synced (summaries from listChats), with the newest entry held locally.
  Result<std::vector<ChatSummary>> LocalChats();
  // The newest `limit` entries of `chat` held locally with seq < `before` (0: the newest), oldest first.
  Result<std::vector<Message>> LocalMessages(ChatId chat, std::size_t limit = 50, Seq before = 0);
  // Messages written with Post not yet acknowledged by the server, in the order written.
  Result<std::vector<OutboxItem>> LocalOutbox();
  // Writes a message to the outbox (durably, with a new client id; returned) and, when connected and
  // signed in, sends the outbox. OK once it is stored: a failure to send leaves it queued.
  Result<std::string> Post(ChatId chat, const std::string& body, const SendOptions& more = {});
  // Drops a message from the outbox (e.g. one the server refused). OK if it is not there.
  Status RemoveFromOutbox(const std::string& client_id);
  // Signed in: stores every chat (listChats) and what the server has after each stored cursor (sync,
  // in pages), acks it, then FlushOutbox(). The first error stops it; what was stored stays.
  Status Synchronize();
  // Sends the outbox in order, one message at a time, each with its client id. A message the server
  // refuses for good is marked (OutboxItem::error) and skipped; a retryable failure (no connection,
  // rate limit) stops the flush and is returned, the rest staying queued.
  Status FlushOutbox();

  // ---- Attachments (docs/protocol.md, Attachments): createAttachment, then HTTP on the same host ----
  // Announces `bytes` as a new attachment and uploads them with this session's token; `progress` is
  // called as they go out. The complete attachment, or the error (announce refused, upload refused:
  // InvalidArgument for a checksum or type mismatch, ...). Blocks.
  Result<Attachment> UploadAttachment(AttachmentKind kind, const std::string& mime_type, std::string_view bytes,
                                      TransferProgress progress = {});
  // Downloads an attachment's bytes; `progress` as they come in. NotFound, PermissionDenied, ...
  Result<std::string> DownloadAttachment(const std::string& attachment_id, TransferProgress progress = {});

  // ---- Calls (docs/protocol.md, Calls); the events arrive as ClientEvents named callRing, ... ----
  // `media`: "audio" or "video"; `sdp`: the offer.
  Result<CallInvitation> CallInvite(ChatId chat, const std::string& media, const std::string& sdp);
  // Answers a callRing with `sdp`; returns the iceServers JSON array.
  Result<std::string> CallAccept(const std::string& call_id, const std::string& sdp);
  Status CallReject(const std::string& call_id, const std::string& reason = "declined");
  // `candidate_json`: an RTCIceCandidateInit object as JSON text.
  Status CallIce(const std::string& call_id, const std::string& candidate_json);
  Result<CallResult> CallHangup(const std::string& call_id);

 private:
  struct Impl;
  explicit Client(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace chat

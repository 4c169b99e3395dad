// Internals of chat::Client shared by its source files, each with one job:
//   json_decode.cc   wire JSON -> domain types (Message, User, ...), Reply::status
//   client_stream.cc the connection's byte stream, plain or TLS (the only file that knows which)
//   connection.cc    the WebSocket link: connect, TLS, hello, read, write, close, request/response
//   client.cc        the public API: connection, events, cursors, the typed commands
//   local_store.cc   the local copy (ClientOptions::local_store): chats, messages, cursors, outbox
//   offline.cc       what uses it: Open, Reconnect, Synchronize, Post, the Local* readers
//   http_transfer.cc attachments over HTTP (upload and download with progress)
//   calls.cc         the typed call signalling commands
// Not installed; nothing here is part of libchat's API.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "json_codec.h"
#include "libchat/client.h"
#include "local_store.h"

// No Beast here: this header is in every file of the client, most of which do no I/O.
namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl

namespace chat::client_internal {

namespace net = boost::asio;
namespace ssl = net::ssl;
using Json = codec::Json;

// Serialises without throwing (invalid UTF-8 is replaced).
using codec::Dump;

// What the decoders below throw for a value of the wrong type (the codec's InvalidArgument message).
// Like nlohmann::json's own exceptions, every caller catches it (ParseReply), so none crosses the
// Client API.
class MalformedJson : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// ---- JSON -> domain (json_decode.cc), through the codec (entities) or by hand (the outbox). These
// throw MalformedJson or nlohmann::json exceptions.
Message MessageFrom(const Json& j);
std::vector<Message> MessagesFrom(const Json& a);
User UserFrom(const Json& j);
Device DeviceFrom(const Json& j);
Chat ChatFrom(const Json& j);
ReceiptCursor CursorFrom(const Json& j);
Session SessionFrom(const Json& j);
Attachment AttachmentFrom(const Json& j);
ChatSummary SummaryFrom(const Json& j);
// Domain -> the wire's JSON shape (the local store keeps entries as the server sent them).
Json MessageJson(const Message& m);
Json SummaryJson(const ChatSummary& s);
Json SessionJson(const Session& s);
Json OutboxJson(const OutboxItem& o);
OutboxItem OutboxFrom(const Json& j);

// Runs `f` on the parsed result of a successful reply; a reply error or a malformed result becomes
// the returned Status.
template <typename T, typename F>
Result<T> ParseReply(const Reply& r, F f) {
  if (!r.ok) return r.status();
  try {
    Json j = Json::parse(r.result);
    return f(j);
  } catch (const std::exception& e) {  // Json::exception or MalformedJson.
    return Status::Internal(std::string("malformed response from server: ") + e.what());
  }
}

// One WebSocket connection (connection.cc). A Client has one at a time; Reconnect replaces it.
struct Link;

}  // namespace chat::client_internal

namespace chat {

struct Client::Impl {
  using Link = client_internal::Link;
  using Json = client_internal::Json;
  using LocalStore = client_internal::LocalStore;

  explicit Impl(ClientOptions o) : options(std::move(o)) {}

  // ---- connection.cc ----
  // Sets up the TLS context when options.tls. InvalidArgument if the CA file cannot be loaded.
  Status InitTls();
  // Opens a new link to host:port and waits (connect_timeout) for the upgrade; then hello. Any
  // previous link must have closed. Unavailable if the server cannot be reached.
  Status OpenLink();
  void DoConnect(std::shared_ptr<Link> link);
  void DoUpgrade(std::shared_ptr<Link> link);
  void DoRead(std::shared_ptr<Link> link);
  void HandleFrame(const std::string& text);
  void HandleEvent(const std::string& name, const Json& data);
  void Write(std::shared_ptr<const std::string> frame);
  void DoWrite(std::shared_ptr<Link> link);
  void DoClose(std::shared_ptr<Link> link);
  // Client::Close's part on the I/O thread: closes the link once its writes are out. Thread-safe.
  void RequestClose();
  // The link of generation `gen` ended: records why and fails every call still waiting.
  void MarkClosed(std::uint64_t gen, CloseInfo info);
  Reply Call(std::string_view cmd, Json args, std::function<void(const Json&)> hook = {});
  void AdvanceFromSync(const Json& result);
  void AdvanceTo(ChatId chat, Seq seq);
  void Shutdown();

  // ---- client.cc ----
  // Remembers the server (and options.failover after it), sets up TLS and the local store (whose
  // cursors seed LastSeq), starts the I/O thread. Not connected yet. InvalidArgument for a failover
  // entry that is not HOST:PORT.
  Status Setup(const std::string& host, std::uint16_t port);
  // OpenLink to the current server, else to the next ones of `servers` in turn, each once; stays on
  // the first that answers. The last Unavailable if none does; any other error at once.
  Status OpenAnyLink();
  // After login/resume: the session is this connection's (and the local copy's).
  Status SignedIn(const Session& s);

  // ---- http_transfer.cc ----
  // Connects a new HTTP stream to host:port (TLS when the client uses it) and returns
  // exchange(stream, "host:port"); Unavailable if it cannot connect.
  template <class R, class F>
  R WithHttpStream(F exchange);

  // ---- offline.cc ----
  // Stores an entry the server sent (live event or answer) and moves the stored cursor with LastSeq.
  void StoreEntry(const Message& m);
  // Stores listChats' summaries and forgets the chats no longer in it.
  Status StoreChatList(const std::vector<ChatSummary>& chats);
  // NotSupported unless there is a local store.
  Status NeedLocal() const;

  const ClientOptions options;
  std::string host;
  std::uint16_t port = 0;
  // The server given to Connect/Open, then options.failover; `current` is host:port's index. Written
  // only while disconnected (Setup, Reconnect), like host and port.
  std::vector<std::pair<std::string, std::uint16_t>> servers;
  std::size_t current = 0;
  client_internal::net::io_context ioc{1};
  client_internal::net::executor_work_guard<client_internal::net::io_context::executor_type> guard{ioc.get_executor()};
  std::shared_ptr<client_internal::ssl::context> tls_ctx;  // Set by InitTls.
  std::shared_ptr<Link> link;             // I/O thread only.
  std::thread thread;
  std::unique_ptr<LocalStore> local;      // ClientOptions::local_store; null without.

  struct Pending {
    bool done = false;
    Reply reply;
    std::function<void(const Json&)> hook;  // Runs on the I/O thread before later frames are handled.
  };
  mutable std::mutex mu;
  std::condition_variable cv;
  std::int64_t next_id = 1;                                            // GUARDED_BY(mu)
  std::unordered_map<std::int64_t, std::shared_ptr<Pending>> pending;  // GUARDED_BY(mu)
  std::deque<Reply> unmatched;                                         // GUARDED_BY(mu)
  std::deque<ClientEvent> events;                                      // GUARDED_BY(mu)
  std::uint64_t dropped = 0;                                           // GUARDED_BY(mu)
  EventHandler handler;                                                // GUARDED_BY(mu)
  std::unordered_map<ChatId, Seq> last_seq;                            // GUARDED_BY(mu)
  std::uint64_t generation = 0;                                        // GUARDED_BY(mu)
  bool open = false;                                                   // GUARDED_BY(mu)
  bool closed = true;                                                  // GUARDED_BY(mu)
  CloseInfo close_info;                                                // GUARDED_BY(mu)
  UserId user = 0;                                                     // GUARDED_BY(mu)
  DeviceId device = 0;                                                 // GUARDED_BY(mu)
  std::string token;                                                   // GUARDED_BY(mu): for HTTP
  std::mutex flush_mu;  // One outbox replay at a time (offline.cc).
};

}  // namespace chat

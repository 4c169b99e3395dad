// chat::AdminServer: the operator's HTTP API (docs/admin.md), which chatctl talks to. It runs on its own
// listener and threads, apart from the chat gateway, and is bound to loopback by default: it can read
// every account, chat and (when asked, and logged) message body, and it issues session tokens.
//
// Every request must carry the admin token (`Authorization: Bearer <token>`), compared in constant
// time. Requests and responses are JSON; a refusal is `{"error": {"code": "...", "message": "..."}}`
// with an HTTP status that matches it (docs/admin.md lists them). A refused request changes nothing.
//
// Threading: cpp-httplib accepts on one thread and serves requests on `threads` threads of its own.
// Handlers call the ChatService (and its Store) directly, so they block on the store; they never run
// on the chat gateway's threads.
//
// No JSON or HTTP library type appears in this header.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "libchat/result.h"
#include "libchat/service.h"

namespace chat {

// One node of the deployment, as GET /v1/nodes shows it (chatctl nodes; docs/admin.md, "Nodes").
struct AdminNode {
  std::string node_id;
  std::string listen;   // The clients' HOST:PORT; its /metrics is http://LISTEN/metrics.
  std::string admin;    // Its admin API's HOST:PORT ("" without one).
  std::string version;
  std::int64_t started_at = 0;    // ms since the epoch.
  std::int64_t heartbeat_at = 0;  // ms since the epoch: its last heartbeat.
  std::int64_t age_ms = 0;        // How long ago that was.
  std::uint64_t connections = 0;  // Its open WebSocket connections at that heartbeat.
  bool stopped = false;           // It said goodbye when it shut down.
};

struct AdminOptions {
  // Address to listen on, numeric IPv4 or IPv6. Default: "127.0.0.1" (loopback only; put the admin
  // API on another interface only behind a firewall or a TLS proxy).
  std::string address = "127.0.0.1";
  // TCP port; 0 asks the OS for a free one (Start returns it). Default: 8081.
  std::uint16_t port = 8081;
  // The bearer token every request must present, at least 16 bytes (e.g. 32 random bytes as hex, kept
  // in a file readable by chatd and the operator only). Default: empty, which Create refuses.
  std::string token;
  // Threads serving requests. Each request holds one for its store work. Default: 2.
  unsigned threads = 2;
  // Largest request body in bytes; a larger one is refused with 413 before it is read. Default: 64 KiB.
  std::size_t max_body_bytes = 64 * 1024;
  // Time allowed to receive a request and to send a response. Default: 10 s each.
  std::chrono::milliseconds read_timeout{10'000};
  std::chrono::milliseconds write_timeout{10'000};
  // An idle keep-alive connection is closed after this long. It also bounds how long Stop waits for
  // idle clients. Default: 2 s.
  std::chrono::milliseconds keep_alive_timeout{2'000};
  // Most items one page of a list endpoint holds (users, chats, messages, inbox). Default: 1000.
  std::size_t max_page = 1000;
  // Most accounts one POST /v1/provision may ask for. Default: 100000.
  std::size_t max_provision = 100'000;
  // Threads one provisioning request creates accounts with: concurrent store writes share their
  // fsyncs (group commit), so this is much faster than one at a time. Default: 8.
  unsigned provision_threads = 8;
  // The audit log: one line per request (peer, method, path, status, duration; never a token or a
  // body) and one for every read of message bodies, backup, password reset, deletion and invitation.
  // Called on the serving threads; must be thread-safe. Default: empty, meaning standard error, each
  // line stamped with the UTC time and the level INFO as chatd's log lines are.
  std::function<void(const std::string& line)> audit_log;
  // The folder of the attachment bytes (chatd: DATA_DIR/blobs with a file:// blob store), which
  // POST /v1/backup copies next to the store (docs/admin.md, "Backup"). Default: "" (a backup holds
  // the store only: with a blob store that is not a folder, back the bytes up by other means).
  std::string blob_dir;
  // The deployment's nodes for GET /v1/nodes (chatd: the heartbeats in a PostgreSQL store, or this
  // node alone), and how old a heartbeat may be before the node is shown as silent. Called on the
  // serving threads. Default: empty (GET /v1/nodes answers not_supported), 15 s.
  std::function<Result<std::vector<AdminNode>>()> list_nodes;
  std::chrono::milliseconds node_silent_after{15'000};
  // This node's id (GET /v1/nodes marks it). Default: "".
  std::string node_id;
};

// The address the admin API is bound to.
struct AdminEndpoint {
  std::string address;
  std::uint16_t port = 0;
};

class AdminServer {
 public:
  // An admin API over `service` (and its Store), which must outlive the server (and must not be
  // destroyed before Stop() returns). `metrics_text`, if set, returns the chat server's /metrics text
  // (Prometheus exposition format): GET /v1/metrics serves it and GET /v1/stats summarises it. It is
  // called on the admin threads and must be thread-safe (chat::Server::MetricsText is).
  // Does not bind yet. InvalidArgument for a missing or short token or other bad options.
  static Result<std::unique_ptr<AdminServer>> Create(AdminOptions options, ChatService& service,
                                                     std::function<std::string()> metrics_text = {});

  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;
  // Stops the server if it is running (see Stop).
  virtual ~AdminServer() = default;

  // Checks an admin token as Create does: OK, or InvalidArgument saying why it is refused (shorter
  // than 16 bytes, or a few characters repeated).
  static Status CheckToken(std::string_view token);

  // Replaces the admin token from now on (chatd re-reads its token file on SIGHUP): requests in
  // progress finish with the token they presented. InvalidArgument (the old token stays) as
  // CheckToken. Thread-safe.
  virtual Status SetToken(std::string token) = 0;

  // Binds, listens and starts the threads. Returns the bound endpoint (with the port the OS chose
  // when options.port was 0). Unavailable if the address cannot be bound; FailedPrecondition if
  // already started. Not thread-safe with Stop.
  virtual Result<AdminEndpoint> Start() = 0;

  // Stops accepting, lets requests in progress finish (a long provisioning call included), closes
  // idle connections (within keep_alive_timeout) and joins the threads. Afterwards no thread of the
  // server touches the service. Blocks. Idempotent; not to be called from a request handler.
  virtual void Stop() = 0;

 protected:
  AdminServer() = default;
};

}  // namespace chat

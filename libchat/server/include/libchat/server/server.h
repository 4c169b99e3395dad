// chat::Server: libchat's real-time gateway. HTTP and WebSocket on one port (Boost.Beast): /ws speaks
// protocol v1 (docs/protocol.md) on top of a ChatService; /healthz, /readyz and /metrics serve operators
// (docs/operations.md).
//
// Threading: `io_threads` network threads, each running its own io_context; every connection lives on
// one strand. Calls into the ChatService (which block on the store) run on a bounded pool of `workers`
// threads, never on a network thread. Live events reach sessions through the service's Bus, so that a
// multi-node Bus can deliver to sessions on other nodes without touching session code.
//
// No Boost, JSON or Asio type appears in this header: embedders link libchat::server and see only this.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "libchat/calls.h"
#include "libchat/push_dispatcher.h"
#include "libchat/result.h"
#include "libchat/server/log.h"
#include "libchat/service.h"

namespace chat {

// TLS (https:// and wss://) on the server's port. Give the certificate chain and the private key, each
// either as a PEM file path or as PEM text; with neither, the server speaks plain HTTP and ws://
// (for loopback and development). docs/security.md.
struct TlsOptions {
  // PEM file with the server certificate first, then any intermediates. Default: "" (none).
  std::string cert_file;
  // PEM file with the private key of the certificate (unencrypted). Default: "" (none).
  std::string key_file;
  // The same as PEM text, used instead of the file when not empty. Default: "" (none).
  std::string cert_pem;
  std::string key_pem;

  // True when a certificate is configured (file or PEM): the server then speaks TLS only.
  bool enabled() const { return !cert_file.empty() || !cert_pem.empty(); }
};

// Who may create an account with `register` on the chat protocol (chatd --registration). The admin
// API creates accounts whatever this says.
enum class RegistrationMode {
  kOpen,    // Anyone who reaches the port (the per-address and overall limits apply).
  kClosed,  // Nobody: register answers permission_denied. Accounts come from the admin API.
  kInvite,  // Only with an invitation code (ChatService::CreateInvite; chatctl invites create).
};

struct ServerOptions {
  // Address to listen on, numeric IPv4 or IPv6. Default: "127.0.0.1" (loopback only).
  std::string address = "127.0.0.1";
  // TCP port; 0 asks the OS for a free one (Server::Start returns it). Default: 8080.
  std::uint16_t port = 8080;
  // Network threads, each with its own io_context; 0 means std::thread::hardware_concurrency().
  // Default: 0.
  unsigned io_threads = 0;
  // Threads that run ChatService calls (store I/O). LevelDB group-commits concurrent appends, so more
  // workers than cores help under load. Default: 8.
  unsigned workers = 8;
  // Commands waiting for a worker; beyond this a command fails with resource_exhausted and a
  // retryAfterMs hint. Default: 4096.
  std::size_t worker_queue = 4096;
  // Threads that run the commands that hash a password (register, login, changePassword, removeDevice
  // with username and password), apart from `workers`: at most this many Argon2id hashes (64 MiB each
  // at the interactive cost) run at once, and they never hold a worker that serves anything else.
  // Default: 2.
  unsigned hash_workers = 2;
  // Password commands waiting for a hash worker; beyond this they fail with resource_exhausted and a
  // retryAfterMs hint (the others are not affected). Default: 64.
  std::size_t hash_queue = 64;
  // Largest WebSocket text frame (a whole message) accepted, in bytes. A larger one is answered with
  // frame_too_large and discarded; one larger than 4x this closes the connection with 1009.
  // Default: 256 KiB (a 64 KiB body needs up to 6x when JSON-escaped, rarely).
  std::size_t max_frame_bytes = 256 * 1024;
  // Bound of each connection's outbound queue, in frames and in bytes (frames not yet written,
  // including the one being written). A connection that exceeds either is a slow consumer: it is
  // closed with 1008 "slow consumer" and catches up by sync. Default: 512 frames, 4 MiB.
  std::size_t send_queue_messages = 512;
  std::size_t send_queue_bytes = 4 * 1024 * 1024;
  // Largest response to sync/history, in bytes of encoded JSON (measured, escapes included, plus a
  // bound on each chat's own fields); a page that would be larger is cut short with hasMore=true, but
  // always holds at least one message. Must stay below send_queue_bytes. Default: 1 MiB.
  std::size_t max_response_bytes = 1024 * 1024;
  // Most open connections (HTTP and WebSocket); beyond this new connections are refused at accept.
  // Default: 10000.
  std::size_t max_connections = 10000;
  // Most open connections from one source IP address (an IPv6 client counts as its /64, which one host
  // has to pick addresses from); beyond this that address's new connections are
  // closed at accept (counted in chat_connections_refused_per_address_total), others are served as
  // before. 0: no per-address limit. Behind a reverse proxy, list it in trusted_proxies: each request
  // then counts under the client address the proxy forwards. Load generators on one host need 0.
  // Default: 256.
  std::size_t max_connections_per_address = 256;
  // Time allowed for the HTTP request and the WebSocket upgrade, and for the close handshake.
  // Default: 10 s.
  std::chrono::milliseconds handshake_timeout{10'000};
  // A WebSocket connection on which nothing arrives for this long is closed. The server pings at half
  // of it, so a live client that answers pings stays connected. Default: 60 s.
  std::chrono::milliseconds idle_timeout{60'000};
  // A single frame write that does not complete in this time closes the connection (the peer stopped
  // reading). Default: 30 s.
  std::chrono::milliseconds write_timeout{30'000};
  // Receipts of one chat are coalesced over this window into one `receipt` event. Default: 50 ms.
  std::chrono::milliseconds receipt_interval{50};
  // `ping` commands and other activity update the device's last seen at most this often. Default: 60 s.
  std::chrono::milliseconds last_seen_interval{60'000};
  // On Stop(), time given to connections to finish their close handshake before they are cut.
  // Default: 3 s.
  std::chrono::milliseconds shutdown_grace{3'000};
  // Largest HTTP request body on the plain HTTP routes. Default: 16 KiB.
  std::size_t http_body_limit = 16 * 1024;
  // TLS on the port: certificate and key. Default: none (plain HTTP and ws://).
  TlsOptions tls;
  // A folder of static files served at "/" (the web app; GET and HEAD only), read into memory by
  // Start, which fails with InvalidArgument if it is not a folder with an index.html or is larger
  // than 64 MiB / 4096 files. Paths outside it cannot be reached; every answer carries a strict
  // Content-Security-Policy. Default: "" (no web app: "/" answers 404).
  std::string web_root;
  // Reverse proxies whose X-Forwarded-For is believed, as CIDR blocks ("10.0.0.0/8", "::1/128", or a
  // single address). On a connection from one of them, the client's address (for the per-address
  // connection limit, the login throttle, registration limits and logs) is read from the header,
  // from the right, skipping trusted hops; from anyone else the header is ignored.
  // Create refuses a malformed entry (InvalidArgument). Default: none (the peer is the client).
  std::vector<std::string> trusted_proxies;
  // Who may register through the protocol. Default: kOpen.
  RegistrationMode registration = RegistrationMode::kOpen;
  // Lines below this level are not logged (SetLogLevel changes it). Default: kInfo.
  LogLevel log_level = LogLevel::kInfo;
  // Where log lines go. Default: empty, meaning StderrLogSink().
  LogSink log_sink;

  // Call signalling (callInvite, ...; docs/protocol.md): ring timeout, payload limits, ICE servers.
  // `calls.clock` and `calls.timer_thread` are honoured as given. Default: CallOptions' defaults.
  CallOptions calls;
  // Push senders by provider name (MakePushSenders). Not empty: the server runs a PushDispatcher that
  // notifies devices without a live session of new messages and rings them for calls. Default: none
  // (no pushes).
  PushSenders push_senders;
  // The dispatcher's options (ignored without push_senders). Default: PushOptions' defaults.
  PushOptions push;
  // This node's id among several (chatd --node-id), in the cluster's live-device registry. Letters,
  // digits and . _ : -. Default: "" (on a bus between nodes: "node-" and a random number).
  std::string node_id;
  // On a bus between nodes: a node whose heartbeat is older than this is taken for dead, its devices
  // for gone, and its users announced offline to their partners on the other nodes
  // (docs/scaling.md, "Presence"). The first node to create the deployment's bucket fixes it.
  // Default: 6 s.
  std::chrono::milliseconds node_ttl{6'000};
  // Asked by every /readyz request, on a network thread, once the server listens and is not
  // draining: false answers 503, so that a load balancer stops sending clients here (chatd passes
  // the store's Availability, which turns false while its database is away). Must not block.
  // Default: empty (ready while listening).
  std::function<bool()> ready_check;
};

// The address the server is bound to.
struct Endpoint {
  std::string address;
  std::uint16_t port = 0;
};

class Server {
 public:
  // A server for `service`, which must outlive it (and must not be destroyed before Stop() returns).
  // Does not bind yet. InvalidArgument for inconsistent options (e.g. max_response_bytes larger than
  // send_queue_bytes).
  static Result<std::unique_ptr<Server>> Create(ServerOptions options, ChatService& service);

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  // Stops the server if it is running (see Stop).
  virtual ~Server() = default;

  // Binds, listens and starts the network and worker threads. Returns the bound endpoint (with the
  // port the OS chose when options.port was 0). Unavailable if the address cannot be bound;
  // InvalidArgument if options.tls names a certificate or key that cannot be loaded (or a key that
  // does not match the certificate); FailedPrecondition if already started. Not thread-safe with Stop.
  virtual Result<Endpoint> Start() = 0;

  // Stops accepting, closes every WebSocket with 1001 "going away", waits up to shutdown_grace for
  // close handshakes, stops the network threads, then finishes the commands already queued for
  // workers and joins them. Afterwards no thread of the server touches the service. Blocks.
  // Idempotent; safe to call from any thread except the server's own.
  virtual void Stop() = 0;

  // The body of /metrics: Prometheus text exposition format. Thread-safe.
  virtual std::string MetricsText() const = 0;

  // Replaces the TLS certificate and key with those of `tls` (files re-read; chatd does this on
  // SIGHUP). Handshakes that start afterwards present the new pair; established connections keep
  // theirs, so nobody is disconnected. Returns a description of the new certificate (subject and
  // expiry). InvalidArgument naming the file if the pair cannot be loaded or does not match (the
  // current pair stays); FailedPrecondition if the server was not started with TLS or `tls` turns it
  // off (that needs a restart). Thread-safe.
  virtual Result<std::string> ReloadTls(const TlsOptions& tls) = 0;

  // Changes the level below which lines are not logged, from now on. Thread-safe.
  virtual void SetLogLevel(LogLevel level) = 0;

 protected:
  Server() = default;
};

// Loads the certificate and key of `tls` and checks that they match, as Start would, without
// serving (chatd --check-config). OK when TLS is off. InvalidArgument naming the file otherwise.
Status CheckTlsOptions(const TlsOptions& tls);

// Checks ServerOptions::trusted_proxies as Create would (chatd --trusted-proxy). InvalidArgument
// naming the first entry that is not an address or a network.
Status CheckTrustedProxies(const std::vector<std::string>& cidrs);

}  // namespace chat

// Command handlers of protocol v1: one function per command, run on a worker thread (they call the
// ChatService, which blocks on the store). A handler reads its arguments with Args, calls the service
// and returns the result JSON or a typed error; it never touches the session, which applies the
// outcome (and any change to its authentication) on its lane. hello and ping, which need no store,
// are answered by the session itself.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "libchat/calls.h"
#include "libchat/server/server.h"
#include "libchat/service.h"
#include "log_limiter.h"
#include "logger.h"
#include "metrics.h"
#include "presence.h"
#include "protocol.h"
#include "registration_guard.h"
#include "token_buckets.h"

namespace chat::detail {

struct CommandContext {
  ChatService& service;
  Presence& presence;
  const ServerOptions& options;
  const Logger& log;
  Metrics& metrics;
  CallManager& calls;
  RegistrationGuard& registration;  // register: per address and overall.
  TokenBuckets& resumes;            // resume: per user (Limits::resume_per_user).
  LogLimiter& refusal_log;          // Repeated refusal lines, per source address.
};

// Who sends the command: user and device are 0 before login/resume.
struct Caller {
  UserId user = 0;
  DeviceId device = 0;
  std::string remote;  // "ip:port", or the client's "ip" behind a trusted proxy; for logs and limits.
  // When the session handed the command over (metrics: chat_send_fanout_latency_seconds).
  std::chrono::steady_clock::time_point received{};
};

enum class SessionEffect {
  kNone,
  kAuthenticated,  // login/resume succeeded: the session now belongs to outcome.user/device.
  kLoggedOut,      // The caller's own device is gone (logout, removeDevice of itself).
  kTokenRotated,   // changePassword: the connection goes on with outcome.token_hash.
};

struct CommandOutcome {
  bool ok = false;
  Json result;
  WireError error;
  SessionEffect effect = SessionEffect::kNone;
  UserId user = 0;
  DeviceId device = 0;
  std::string token_hash;  // kAuthenticated, kTokenRotated: the session's token (hashed).
};

// How an asynchronous command reports: exactly once, on any thread (e.g. the store's committer).
// Must be quick; the session encodes the outcome on its own lane.
using CommandDone = std::function<void(CommandOutcome)>;

struct CommandSpec {
  std::string_view name;
  // Refused with unauthenticated before login/resume.
  bool needs_auth;
  // Exactly one of run and run_async is set. run blocks its worker until the outcome is known;
  // run_async returns once the work is queued (sendMessage: once the append is with the store's
  // group commit), so a worker is not held for an fsync and a few workers keep many sends in flight.
  CommandOutcome (*run)(CommandContext& ctx, const Caller& caller, Args& args);
  void (*run_async)(CommandContext& ctx, const Caller& caller, Args& args, CommandDone done) = nullptr;
};

// Outcomes, for handlers.
inline CommandOutcome Ok(Json result) {
  CommandOutcome o;
  o.ok = true;
  o.result = std::move(result);
  return o;
}
inline CommandOutcome Err(WireError e) {
  CommandOutcome o;
  o.error = std::move(e);
  return o;
}
inline CommandOutcome Err(const Status& s) { return Err(ToWireError(s)); }
// The error of a failed Args read (bad_request naming the field).
inline CommandOutcome BadArgs(const Args& args) { return Err(args.error()); }

// nullptr for an unknown command. hello and ping are not in the table.
const CommandSpec* FindCommand(std::string_view name);

// True if running `request` changes the caller's own session (logout, removeDevice of the caller's
// device, changePassword): a revocation arriving meanwhile waits for the outcome (SessionAuth).
bool ChangesOwnCredentials(const Request& request, const Caller& caller);

// True if `request` checks or hashes a password (register, login, changePassword, removeDevice
// without a session): it then runs on the hash workers, never on the general ones.
bool HashesPassword(const Request& request, const Caller& caller);

// The per-address key of Caller::remote ("ip:port" or "[v6]:port"): AddressKey of the IP address
// (an IPv6 client counts as its /64); empty if the peer is unknown.
std::string SourceAddress(const std::string& remote);

}  // namespace chat::detail

// Push senders over libcurl: a webhook gateway, Firebase Cloud Messaging (HTTP v1) and Apple Push
// Notification service (HTTP/2, token auth). Request formats and URIs are in docs/push.md.
//
// Every sender is a chat::PushSender: Send() never blocks (requests go to the sender's own libcurl
// thread), calls `done` exactly once on that thread, and maps the provider's answer to a Status:
// OK; NotFound when the provider says the token is no longer valid (the dispatcher then removes it);
// Unavailable (retryable) for timeouts, connection failures, 429 and 5xx; InvalidArgument or
// PermissionDenied for a request or credentials the provider refuses. Destroying a sender answers
// every request still in flight with Unavailable.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "libchat/clock.h"
#include "libchat/push.h"
#include "libchat/registry.h"
#include "libchat/result.h"

namespace chat {

struct HttpOptions {
  // Upper bound on one request, connection included. Default: 10000 ms.
  TimeMs timeout_ms = 10000;
  // Upper bound on connecting (TCP and TLS). Default: 5000 ms.
  TimeMs connect_timeout_ms = 5000;
  // Requests queued or in flight; more are answered at once with ResourceExhausted. Default: 1024.
  std::size_t max_queue = 1024;
  // CA bundle for https endpoints (a private gateway, tests). Empty: the system's. Default: "".
  std::string ca_file;
};

struct WebhookOptions {
  // The gateway: http:// or https://. Required.
  std::string url;
  // If set, each request carries X-Libchat-Timestamp and X-Libchat-Signature (HMAC-SHA256 of
  // "<timestamp>.<body>" with this secret) so the gateway can check where it came from. Default: "".
  std::string secret;
  HttpOptions http;
  // Not owned. Default: the system clock.
  Clock* clock = SystemClock();
};

struct FcmOptions {
  // Path of the service account key (JSON) from the Firebase console. Required.
  std::string credentials_file;
  // Firebase project. Default: the key's project_id.
  std::string project_id;
  // Base URL of the FCM API. Default: "https://fcm.googleapis.com".
  std::string endpoint = "https://fcm.googleapis.com";
  // OAuth2 token endpoint. Default: the key's token_uri.
  std::string token_uri;
  HttpOptions http;
  // Not owned. Default: the system clock.
  Clock* clock = SystemClock();
};

struct ApnsOptions {
  // Path of the token signing key (.p8, PKCS#8 PEM, P-256) from the Apple developer account. Required.
  std::string key_file;
  // The key's 10-character id, and the team id. Required.
  std::string key_id;
  std::string team_id;
  // The app's bundle id; call pushes go to "<topic>.voip". Required.
  std::string topic;
  // Base URL. Default: "https://api.push.apple.com" (development builds of the app:
  // "https://api.sandbox.push.apple.com").
  std::string endpoint = "https://api.push.apple.com";
  // A signed provider token is reused this long (Apple refuses tokens older than an hour and
  // updates more often than every 20 minutes). Default: 50 minutes.
  TimeMs token_refresh_ms = 50 * 60 * 1000;
  HttpOptions http;
  // Not owned. Default: the system clock.
  Clock* clock = SystemClock();
};

// Each loads and checks its keys now: InvalidArgument for a missing or malformed option, key file or
// URL. The sender owns one libcurl thread.
Result<std::unique_ptr<PushSender>> NewWebhookPushSender(WebhookOptions options);
Result<std::unique_ptr<PushSender>> NewFcmPushSender(FcmOptions options);
Result<std::unique_ptr<PushSender>> NewApnsPushSender(ApnsOptions options);

// Registers the push schemes (query keys in docs/push.md; an unknown key is InvalidArgument):
//   webhook+http://HOST[:PORT]/PATH?secret=...   webhook+https://...
//   fcm://[PROJECT]?credentials=FILE[&endpoint=URL][&token_uri=URL]
//   apns://[HOST[:PORT]]?key_file=FILE&key_id=ID&team_id=ID&topic=BUNDLE[&endpoint=URL]
// each also taking timeout_ms, connect_timeout_ms, max_queue and ca_file (HttpOptions).
void RegisterCurlPush(Registry& registry);

}  // namespace chat

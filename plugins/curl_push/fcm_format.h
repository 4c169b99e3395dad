// Firebase Cloud Messaging HTTP v1: the service account, the OAuth2 JWT bearer exchange, the send
// request and how FCM's answers map to Status. Pure functions; fcm_sender.cc does the I/O.
#pragma once

#include <string>

#include "http_client.h"
#include "jwt.h"
#include "libchat/push.h"

namespace chat::curl_push {

// The fields of a service account key file that the sender uses.
struct ServiceAccount {
  std::string project_id;
  std::string client_email;
  std::string private_key_id;
  std::string token_uri;
  SigningKey key;
};

// InvalidArgument naming `path` if the JSON lacks a field or the key does not load.
Result<ServiceAccount> ParseServiceAccount(const std::string& json_text, const std::string& path);

// The OAuth2 scope FCM sends need.
inline constexpr char kFcmScope[] = "https://www.googleapis.com/auth/firebase.messaging";

// The signed assertion of the JWT bearer flow (RFC 7523): iss = client_email, scope, aud = token_uri,
// iat = now, exp = now + 1 hour.
Result<std::string> FcmAssertion(const ServiceAccount& account, const std::string& token_uri, TimeMs now_ms);

// application/x-www-form-urlencoded body exchanging the assertion for an access token.
std::string FcmTokenRequestBody(const std::string& assertion);

struct AccessToken {
  std::string token;
  TimeMs expires_at = 0;
};

// The token endpoint's answer: {"access_token":..., "expires_in":seconds, ...}. Unavailable for
// 429/5xx/no answer; PermissionDenied when the credentials are refused (e.g. "invalid_grant").
Result<AccessToken> ParseTokenResponse(const HttpResponse& response, TimeMs now_ms);

// {"message":{"token":...,"data":{...},"notification":{...}?,"android":{...}}}: data always (values
// are strings, as FCM requires); a notification block only with a preview; android priority "high";
// messages collapse per chat; a call's ttl is the time left to ring.
std::string FcmMessageBody(const PushNotification& n, TimeMs now_ms);

struct FcmVerdict {
  Status status;
  bool auth_expired = false;  // 401: fetch a new access token before the retry.
};

// 2xx: OK. errorCode UNREGISTERED, or 404/410 with FCM's NOT_FOUND error: NotFound. 401: Unavailable
// with auth_expired. 403: PermissionDenied (wrong project or sender). 429, 5xx, no answer:
// Unavailable. Other answers (400 INVALID_ARGUMENT, a 404 without FCM's error): InvalidArgument.
FcmVerdict FcmStatus(const HttpResponse& response);

}  // namespace chat::curl_push

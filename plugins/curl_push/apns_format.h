// Apple Push Notification service: the request for one notification, the provider token, and how
// APNs answers map to Status. Pure functions; apns_sender.cc does the I/O.
#pragma once

#include <string>
#include <vector>

#include "http_client.h"
#include "jwt.h"
#include "libchat/push.h"

namespace chat::curl_push {

struct ApnsRequest {
  std::string path;                  // "/3/device/<token>"
  std::vector<std::string> headers;  // apns-* and content-type; authorization is added by the sender.
  std::string body;
};

// Messages: push type "alert" to `topic`, priority 10, collapsed per chat, with the text when there
// is a preview and otherwise the localisable "LIBCHAT_NEW_MESSAGES" alert carrying the count.
// Calls: push type "voip" to "<topic>.voip", priority 10, expiring when the call stops ringing.
// NotFound if the token is not hex (it can never be valid, and it goes into the path).
Result<ApnsRequest> ApnsRequestFor(const PushNotification& n, const std::string& topic);

// The provider token: header {"alg":"ES256","kid":key_id}, claims {"iss":team_id,"iat":now}.
Result<std::string> ApnsProviderToken(const SigningKey& key, const std::string& key_id, const std::string& team_id,
                                      TimeMs now_ms);

struct ApnsVerdict {
  Status status;
  bool token_expired = false;  // 403 ExpiredProviderToken: sign a new provider token, then retry.
};

// 2xx: OK. 410, or reason BadDeviceToken/Unregistered: NotFound. 403 ExpiredProviderToken:
// Unavailable with token_expired; other 403: PermissionDenied. 429, 5xx, no answer: Unavailable.
// Other answers: InvalidArgument.
ApnsVerdict ApnsStatus(const HttpResponse& response);

}  // namespace chat::curl_push

// The webhook gateway's request body and how its answers map to Status (documented in docs/push.md).
#pragma once

#include <string>

#include "http_client.h"
#include "libchat/push.h"

namespace chat::curl_push {

// The JSON document POSTed for one notification.
std::string WebhookBody(const PushNotification& n);

// 2xx: OK. 410, or 404 whose JSON body says {"reason":"invalid_token"}: NotFound (remove the token);
// a bare 404 is a wrong gateway URL, not a verdict on the token. 408, 429, 5xx or no answer:
// Unavailable. Other answers: InvalidArgument.
Status WebhookStatus(const HttpResponse& response);

}  // namespace chat::curl_push

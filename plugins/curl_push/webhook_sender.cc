// webhook+http(s)://: one JSON POST per notification to the operator's gateway.
#include "http_client.h"
#include "jwt.h"
#include "libchat/plugins/curl_push.h"
#include "webhook_format.h"

namespace chat {
namespace {

using curl_push::HttpClient;
using curl_push::HttpRequest;
using curl_push::HttpResponse;

class WebhookSender final : public PushSender {
 public:
  WebhookSender(WebhookOptions options, std::unique_ptr<HttpClient> http)
      : options_(std::move(options)), http_(std::move(http)) {}

  void Send(const PushNotification& n, Done done) override {
    HttpRequest req;
    req.url = options_.url;
    req.body = curl_push::WebhookBody(n);
    req.headers.push_back("Content-Type: application/json");
    if (!options_.secret.empty()) {
      // Signing the timestamp with the body lets the gateway refuse replays of old requests.
      std::string ts = std::to_string(options_.clock->NowMs() / 1000);
      req.headers.push_back("X-Libchat-Timestamp: " + ts);
      req.headers.push_back("X-Libchat-Signature: v1=" + curl_push::HmacSha256Hex(options_.secret, ts + "." + req.body));
    }
    http_->Submit(std::move(req), [done = std::move(done)](HttpResponse r) { done(curl_push::WebhookStatus(r)); });
  }

 private:
  const WebhookOptions options_;
  std::unique_ptr<HttpClient> http_;
};

}  // namespace

Result<std::unique_ptr<PushSender>> NewWebhookPushSender(WebhookOptions options) {
  if (options.url.rfind("http://", 0) != 0 && options.url.rfind("https://", 0) != 0) {
    return Status::InvalidArgument("webhook: url must start with http:// or https://");
  }
  if (!options.clock) return Status::InvalidArgument("webhook: clock is null");
  auto http = HttpClient::Create(options.http);
  if (!http.ok()) return http.error();
  return std::unique_ptr<PushSender>(std::make_unique<WebhookSender>(std::move(options), std::move(*http)));
}

}  // namespace chat

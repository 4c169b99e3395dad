// apns://: APNs over HTTP/2 (for https endpoints) with a provider token (ES256 JWT) that is signed
// once and reused for ApnsOptions::token_refresh_ms, as Apple asks.

#include "apns_format.h"
#include "libchat/plugins/curl_push.h"
#include "mutex.h"

namespace chat {
namespace {

using curl_push::HttpClient;
using curl_push::HttpRequest;
using curl_push::HttpResponse;

class ApnsSender final : public PushSender {
 public:
  ApnsSender(ApnsOptions options, curl_push::SigningKey key, std::unique_ptr<HttpClient> http)
      : options_(std::move(options)), key_(std::move(key)), http_(std::move(http)) {}

  ~ApnsSender() override { http_.reset(); }  // Answers in-flight requests while members still live.

  void Send(const PushNotification& n, Done done) override {
    auto request = curl_push::ApnsRequestFor(n, options_.topic);
    if (!request.ok()) return done(request.error());
    auto jwt = ProviderToken();
    if (!jwt.ok()) return done(jwt.error());
    HttpRequest req;
    req.url = options_.endpoint + request->path;
    req.headers = std::move(request->headers);
    req.headers.push_back("authorization: bearer " + *jwt);
    req.body = std::move(request->body);
    http_->Submit(std::move(req), [this, jwt = *jwt, done = std::move(done)](HttpResponse r) {
      auto verdict = curl_push::ApnsStatus(r);
      if (verdict.token_expired) {
        detail::MutexLock lock(&mu_);
        if (jwt_ == jwt) jwt_.clear();
      }
      done(verdict.status);
    });
  }

 private:
  // The cached provider token, signed anew when older than token_refresh_ms. Signing is a fraction
  // of a millisecond, once in 50 minutes: fine on the caller's thread.
  Result<std::string> ProviderToken() {
    TimeMs now = options_.clock->NowMs();
    detail::MutexLock lock(&mu_);
    if (!jwt_.empty() && now - jwt_issued_at_ < options_.token_refresh_ms && now >= jwt_issued_at_) return jwt_;
    auto jwt = curl_push::ApnsProviderToken(key_, options_.key_id, options_.team_id, now);
    if (!jwt.ok()) return jwt.error();
    jwt_ = *jwt;
    jwt_issued_at_ = now;
    return jwt_;
  }

  const ApnsOptions options_;
  const curl_push::SigningKey key_;
  detail::Mutex mu_;
  std::string jwt_ GUARDED_BY(mu_);
  TimeMs jwt_issued_at_ GUARDED_BY(mu_) = 0;
  std::unique_ptr<HttpClient> http_;
};

}  // namespace

Result<std::unique_ptr<PushSender>> NewApnsPushSender(ApnsOptions options) {
  if (options.key_file.empty() || options.key_id.empty() || options.team_id.empty() || options.topic.empty()) {
    return Status::InvalidArgument("apns: key_file, key_id, team_id and topic are required");
  }
  if (!options.clock) return Status::InvalidArgument("apns: clock is null");
  if (options.token_refresh_ms <= 0) return Status::InvalidArgument("apns: token_refresh_ms must be > 0");
  while (!options.endpoint.empty() && options.endpoint.back() == '/') options.endpoint.pop_back();
  if (options.endpoint.rfind("http://", 0) != 0 && options.endpoint.rfind("https://", 0) != 0) {
    return Status::InvalidArgument("apns: endpoint '" + options.endpoint + "' is not an http(s) URL");
  }
  auto pem = curl_push::ReadSmallFile(options.key_file, "apns key_file");
  if (!pem.ok()) return pem.error();
  auto key = curl_push::SigningKey::FromPem(*pem, curl_push::JwtAlgorithm::kEs256, "apns key_file '" + options.key_file + "'");
  if (!key.ok()) return key.error();
  auto http = HttpClient::Create(options.http);
  if (!http.ok()) return http.error();
  return std::unique_ptr<PushSender>(std::make_unique<ApnsSender>(std::move(options), std::move(*key), std::move(*http)));
}

}  // namespace chat

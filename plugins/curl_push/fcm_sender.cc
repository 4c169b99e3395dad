// fcm://: FCM HTTP v1 with an OAuth2 access token obtained from a service account (JWT bearer flow),
// cached until shortly before it expires. Sends that arrive while a token is being fetched wait for
// it; none blocks its caller.
#include <vector>

#include "fcm_format.h"
#include "libchat/plugins/curl_push.h"
#include "mutex.h"

namespace chat {
namespace {

using curl_push::HttpClient;
using curl_push::HttpRequest;
using curl_push::HttpResponse;

// Fetch a new token this long before the old one expires, so no send races its expiry.
constexpr TimeMs kTokenMarginMs = 5 * 60 * 1000;

class FcmSender final : public PushSender {
 public:
  FcmSender(FcmOptions options, curl_push::ServiceAccount account, std::unique_ptr<HttpClient> http)
      : options_(std::move(options)), account_(std::move(account)), http_(std::move(http)) {}

  ~FcmSender() override {
    // Answers in-flight requests (their callbacks use the members below) before those go.
    http_.reset();
    std::vector<Waiting> left;
    {
      detail::MutexLock lock(&mu_);
      left.swap(waiting_);
    }
    for (auto& w : left) w.done(Status::Unavailable("fcm: sender shutting down"));
  }

  void Send(const PushNotification& n, Done done) override {
    std::string token;
    bool fetch = false;
    {
      detail::MutexLock lock(&mu_);
      if (!token_.token.empty() && options_.clock->NowMs() < token_.expires_at - kTokenMarginMs) {
        token = token_.token;
      } else {
        waiting_.push_back({n, std::move(done)});
        fetch = !fetching_;
        fetching_ = true;
      }
    }
    // Outside the lock: the request may complete (and take the lock) on this thread.
    if (!token.empty()) return Post(n, token, std::move(done));
    if (fetch) FetchToken();
  }

 private:
  struct Waiting {
    PushNotification n;
    Done done;
  };

  void FetchToken() {
    auto assertion = curl_push::FcmAssertion(account_, options_.token_uri, options_.clock->NowMs());
    if (!assertion.ok()) {
      HttpResponse r;
      r.transport = assertion.error();
      return OnToken(r);
    }
    HttpRequest req;
    req.url = options_.token_uri;
    req.headers.push_back("Content-Type: application/x-www-form-urlencoded");
    req.body = curl_push::FcmTokenRequestBody(*assertion);
    http_->Submit(std::move(req), [this](HttpResponse r) { OnToken(r); });
  }

  void OnToken(const HttpResponse& r) {
    auto token = curl_push::ParseTokenResponse(r, options_.clock->NowMs());
    std::vector<Waiting> ready;
    {
      detail::MutexLock lock(&mu_);
      fetching_ = false;
      if (token.ok()) token_ = *token;
      ready.swap(waiting_);
    }
    for (auto& w : ready) {
      if (token.ok()) Post(w.n, token->token, std::move(w.done));
      else w.done(token.error());
    }
  }

  void Post(const PushNotification& n, const std::string& token, Done done) {
    HttpRequest req;
    req.url = options_.endpoint + "/v1/projects/" + options_.project_id + "/messages:send";
    req.headers.push_back("Content-Type: application/json; charset=UTF-8");
    req.headers.push_back("Authorization: Bearer " + token);
    req.body = curl_push::FcmMessageBody(n, options_.clock->NowMs());
    http_->Submit(std::move(req), [this, token, done = std::move(done)](HttpResponse r) {
      auto verdict = curl_push::FcmStatus(r);
      if (verdict.auth_expired) {
        // Revoked or expired early: forget it, so the retry fetches a fresh one.
        detail::MutexLock lock(&mu_);
        if (token_.token == token) token_ = {};
      }
      done(verdict.status);
    });
  }

  const FcmOptions options_;
  const curl_push::ServiceAccount account_;
  detail::Mutex mu_;
  curl_push::AccessToken token_ GUARDED_BY(mu_);
  bool fetching_ GUARDED_BY(mu_) = false;
  std::vector<Waiting> waiting_ GUARDED_BY(mu_);
  std::unique_ptr<HttpClient> http_;
};

}  // namespace

Result<std::unique_ptr<PushSender>> NewFcmPushSender(FcmOptions options) {
  if (options.credentials_file.empty()) return Status::InvalidArgument("fcm: credentials file is required");
  if (!options.clock) return Status::InvalidArgument("fcm: clock is null");
  auto text = curl_push::ReadSmallFile(options.credentials_file, "fcm credentials");
  if (!text.ok()) return text.error();
  auto account = curl_push::ParseServiceAccount(*text, options.credentials_file);
  if (!account.ok()) return account.error();
  if (options.project_id.empty()) options.project_id = account->project_id;
  if (options.project_id.empty()) return Status::InvalidArgument("fcm: no project id (URI host or key's project_id)");
  if (options.token_uri.empty()) options.token_uri = account->token_uri;
  while (!options.endpoint.empty() && options.endpoint.back() == '/') options.endpoint.pop_back();
  for (const std::string* url : {&options.endpoint, &options.token_uri}) {
    if (url->rfind("http://", 0) != 0 && url->rfind("https://", 0) != 0) {
      return Status::InvalidArgument("fcm: '" + *url + "' is not an http(s) URL");
    }
  }
  auto http = HttpClient::Create(options.http);
  if (!http.ok()) return http.error();
  return std::unique_ptr<PushSender>(
      std::make_unique<FcmSender>(std::move(options), std::move(*account), std::move(*http)));
}

}  // namespace chat

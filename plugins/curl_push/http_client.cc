#include "http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>

#include "libchat/version.h"

namespace chat::curl_push {

struct HttpClient::Transfer {
  HttpRequest request;
  Callback done;
  HttpResponse response;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  char error[CURL_ERROR_SIZE] = {};

  ~Transfer() {
    if (headers) curl_slist_free_all(headers);
    if (easy) curl_easy_cleanup(easy);
  }
};

namespace {

// curl_global_init is not safe to race with other libcurl calls; it runs once per process, and
// never gets a matching cleanup because other libraries in the process may still use libcurl.
bool GlobalInit() {
  static const bool ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  return ok;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* body = static_cast<std::string*>(user);
  size_t len = size * n;
  // Keep the start of an oversized answer; still report every byte consumed so the transfer
  // completes normally.
  body->append(data, std::min(len, kMaxResponseBytes - std::min(kMaxResponseBytes, body->size())));
  return len;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* headers = static_cast<std::map<std::string, std::string>*>(user);
  size_t len = size * n;
  std::string line(data, len);
  auto colon = line.find(':');
  if (colon != std::string::npos && headers->size() < 100) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string value = line.substr(colon + 1);
    auto b = value.find_first_not_of(" \t");
    auto e = value.find_last_not_of(" \t\r\n");
    (*headers)[name] = b == std::string::npos ? "" : value.substr(b, e - b + 1);
  }
  return len;
}

Status TransportStatus(CURLcode code, const std::string& url, const char* detail) {
  std::string what = url + ": " + curl_easy_strerror(code) + (detail && *detail ? std::string(" (") + detail + ")" : "");
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return Status::Unavailable(what);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
      return Status::PermissionDenied(what);
    default:
      return Status::Internal(what);
  }
}

}  // namespace

Result<std::unique_ptr<HttpClient>> HttpClient::Create(const HttpOptions& options) {
  if (options.timeout_ms <= 0 || options.connect_timeout_ms <= 0) {
    return Status::InvalidArgument("http: timeout_ms and connect_timeout_ms must be > 0");
  }
  if (options.max_queue == 0) return Status::InvalidArgument("http: max_queue must be > 0");
  if (!GlobalInit()) return Status::Internal("http: curl_global_init failed");
  CURLM* multi = curl_multi_init();
  if (!multi) return Status::Internal("http: curl_multi_init failed");
  // HTTP/2: many requests share one connection to a provider as streams (APNs expects this).
  curl_multi_setopt(multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  return std::unique_ptr<HttpClient>(new HttpClient(options, multi));
}

HttpClient::HttpClient(const HttpOptions& options, void* multi) : options_(options), multi_(multi) {
  thread_ = std::thread([this] { Loop(); });
}

HttpClient::~HttpClient() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  curl_multi_wakeup(static_cast<CURLM*>(multi_));
  thread_.join();
  curl_multi_cleanup(static_cast<CURLM*>(multi_));
}

void HttpClient::Submit(HttpRequest request, Callback done) {
  auto t = std::make_unique<Transfer>();
  t->request = std::move(request);
  t->done = std::move(done);
  {
    std::lock_guard lock(mu_);
    if (!stop_ && outstanding_ < options_.max_queue) {
      ++outstanding_;
      incoming_.push_back(std::move(t));
    }
  }
  if (!t) {
    // Queued (t was moved). Wake the thread from curl_multi_poll to start the transfer.
    curl_multi_wakeup(static_cast<CURLM*>(multi_));
    return;
  }
  t->response.transport = Status::ResourceExhausted(t->request.url + ": http queue full or shutting down");
  t->done(std::move(t->response));
}

bool HttpClient::Start(Transfer* t) {
  t->easy = curl_easy_init();
  if (!t->easy) return false;
  for (const std::string& h : t->request.headers) t->headers = curl_slist_append(t->headers, h.c_str());
  // Without this, curl sends "Expect: 100-continue" for larger bodies and waits for the answer.
  t->headers = curl_slist_append(t->headers, "Expect:");
  CURL* e = t->easy;
  curl_easy_setopt(e, CURLOPT_PRIVATE, t);
  curl_easy_setopt(e, CURLOPT_URL, t->request.url.c_str());
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->request.body.data());
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t->request.body.size()));
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &t->response.body);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &t->response.headers);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout_ms));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout_ms));
  // Signals are process-wide and unsafe with threads; timeouts work without them (threaded DNS).
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  // A push endpoint is HTTP(S) only and answers in place: never follow a redirect elsewhere.
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  // HTTP/2 when TLS negotiates it (APNs requires it), HTTP/1.1 otherwise; wait for a connection
  // being set up rather than open a second one, so that streams share it.
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
  curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "libchat/" LIBCHAT_VERSION_STRING);
  if (!options_.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, options_.ca_file.c_str());
  return curl_multi_add_handle(static_cast<CURLM*>(multi_), e) == CURLM_OK;
}

void HttpClient::Finish(Transfer* t, int code) {
  if (code == CURLE_OK) {
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->response.status);
  } else {
    t->response.transport = TransportStatus(static_cast<CURLcode>(code), t->request.url, t->error);
  }
  {
    // Before the callback, which may submit the next request (a send after a token fetch).
    std::lock_guard lock(mu_);
    --outstanding_;
  }
  t->done(std::move(t->response));
}

void HttpClient::Loop() {
  CURLM* multi = static_cast<CURLM*>(multi_);
  for (;;) {
    std::deque<std::unique_ptr<Transfer>> starting;
    {
      std::lock_guard lock(mu_);
      if (stop_) break;
      starting.swap(incoming_);
    }
    for (auto& t : starting) {
      Transfer* raw = t.get();
      if (!Start(raw)) {
        Finish(raw, CURLE_FAILED_INIT);
        continue;
      }
      active_.emplace(raw->easy, std::move(t));
    }
    int running = 0;
    curl_multi_perform(multi, &running);
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      auto it = active_.find(msg->easy_handle);
      if (it == active_.end()) continue;
      std::unique_ptr<Transfer> t = std::move(it->second);
      active_.erase(it);
      CURLcode code = msg->data.result;
      curl_multi_remove_handle(multi, t->easy);
      Finish(t.get(), code);
    }
    // Sleeps until a socket is ready, a timeout of libcurl's is due, or Submit/~HttpClient wakes us.
    curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
  }
  // Shutting down: answer everything so that every caller's `done` runs exactly once.
  for (auto& [easy, t] : active_) {
    curl_multi_remove_handle(multi, t->easy);
    t->response.transport = Status::Unavailable(t->request.url + ": push sender shutting down");
    t->done(std::move(t->response));
  }
  active_.clear();
  std::deque<std::unique_ptr<Transfer>> queued;
  {
    std::lock_guard lock(mu_);
    queued.swap(incoming_);
  }
  for (auto& t : queued) {
    t->response.transport = Status::Unavailable(t->request.url + ": push sender shutting down");
    t->done(std::move(t->response));
  }
}

}  // namespace chat::curl_push

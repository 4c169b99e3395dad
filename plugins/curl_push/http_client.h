// HttpClient: asynchronous HTTP POSTs on one libcurl multi handle driven by the client's own thread,
// so that a sender's Send() never waits for the network. Connections (and HTTP/2 streams) are reused
// across requests. Thread-safe.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "libchat/plugins/curl_push.h"
#include "libchat/status.h"

namespace chat::curl_push {

struct HttpRequest {
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;                  // POSTed as is.
};

struct HttpResponse {
  // OK when an HTTP answer arrived (whatever its status). Otherwise no answer: Unavailable for a
  // timeout or connection failure (worth retrying), ResourceExhausted if the client's queue was
  // full, PermissionDenied when the server's TLS certificate did not verify, Internal for the rest.
  Status transport;
  long status = 0;
  std::string body;                            // At most kMaxResponseBytes.
  std::map<std::string, std::string> headers;  // Names lower-cased.
};

// Providers answer with a small JSON document; anything longer is cut here.
constexpr std::size_t kMaxResponseBytes = 64 * 1024;

class HttpClient {
 public:
  using Callback = std::function<void(HttpResponse)>;

  // Starts the client's thread. Internal if libcurl cannot be set up.
  static Result<std::unique_ptr<HttpClient>> Create(const HttpOptions& options);
  // Answers every request not yet answered with Unavailable, then joins the thread.
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // POSTs the request; `done` is called exactly once, on the client's thread, or before Submit
  // returns if the request is refused (queue full, shutting down). Never blocks.
  void Submit(HttpRequest request, Callback done);

 private:
  struct Transfer;
  explicit HttpClient(const HttpOptions& options, void* multi);
  void Loop();
  bool Start(Transfer* t);
  void Finish(Transfer* t, int curl_code);

  const HttpOptions options_;
  void* const multi_;  // CURLM*, kept out of this header so that users need no libcurl headers.

  std::mutex mu_;
  std::deque<std::unique_ptr<Transfer>> incoming_;
  std::size_t outstanding_ = 0;  // Queued plus in flight: bounded by options_.max_queue.
  bool stop_ = false;

  // Touched only by the client's thread.
  std::map<void*, std::unique_ptr<Transfer>> active_;
  std::thread thread_;
};

}  // namespace chat::curl_push

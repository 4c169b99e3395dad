// AdminServer on cpp-httplib: the listener and its threads, authentication, dispatch of the route
// table (api.h) and the JSON errors for what httplib refuses by itself (unknown path, oversized body).
#include <sys/socket.h>

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <thread>

#include "api.h"
#include "auth.h"
#include "log_limiter.h"
#include "mutex.h"

namespace chat {
namespace {

using admin::ApiError;
using admin::Json;
using admin::Reply;
using detail::Mutex;
using detail::MutexLock;

constexpr std::size_t kMinTokenBytes = 16;

// A crude floor on a token's strength: its length times log2 of the distinct bytes in it, at least 64
// bits. It refuses "aaaaaaaaaaaaaaaa" and "abababababababab" (which pass a length check), not a weak
// token that looks random; the documentation asks for `openssl rand -hex 32`.
bool LooksRandom(std::string_view token) {
  bool seen[256] = {};
  std::size_t distinct = 0;
  for (unsigned char c : token) {
    if (!seen[c]) ++distinct;
    seen[c] = true;
  }
  return static_cast<double>(token.size()) * std::log2(static_cast<double>(distinct)) >= 64;
}

// When the request being served started, for the audit line's duration (one request per thread at a
// time: httplib serves a connection's requests on one pool thread).
thread_local std::chrono::steady_clock::time_point request_start;

class AdminServerImpl final : public AdminServer {
 public:
  AdminServerImpl(AdminOptions options, ChatService& service, std::function<std::string()> metrics_text)
      : options_(std::move(options)),
        token_(std::make_shared<const admin::TokenCheck>(options_.token)),
        ctx_{service, options_, std::move(metrics_text), MakeAudit(options_.audit_log)} {
    // The token is not needed again in clear: keep only its digest (in token_).
    options_.token.assign(options_.token.size(), '\0');
    options_.token.clear();
    Configure();
  }

  ~AdminServerImpl() override { Stop(); }

  Status SetToken(std::string token) override {
    Status ok = AdminServer::CheckToken(token);
    if (ok.ok()) {
      auto check = std::make_shared<const admin::TokenCheck>(token);
      MutexLock lock(&token_mu_);
      token_ = std::move(check);
    }
    token.assign(token.size(), '\0');
    return ok;
  }

  Result<AdminEndpoint> Start() override {
    MutexLock lock(&mu_);
    if (started_) return Status::FailedPrecondition("the admin API was already started");
    int port = options_.port;
    if (port == 0) {
      port = http_.bind_to_any_port(options_.address);
    } else if (!http_.bind_to_port(options_.address, port)) {
      port = -1;
    }
    if (port < 0) {
      return Status::Unavailable("admin API: cannot listen on " + options_.address + ":" +
                                 std::to_string(options_.port) + " (address in use or not local?)");
    }
    started_ = true;
    thread_ = std::thread([this] { http_.listen_after_bind(); });
    // httplib's stop() only acts on a running loop: wait until the loop runs, so that an early Stop()
    // is not lost. The socket already listens, so no client is refused meanwhile.
    while (!http_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return AdminEndpoint{options_.address, static_cast<std::uint16_t>(port)};
  }

  void Stop() override {
    MutexLock lock(&mu_);
    if (!started_ || stopped_) return;
    stopped_ = true;
    // Closes the listening socket; the loop then lets its pool finish the requests in progress.
    http_.stop();
    thread_.join();
  }

 private:
  // Every audit line passes SanitizeLogLine on its way to the sink: whatever a route puts in it, it
  // stays one line.
  static std::function<void(const std::string&)> MakeAudit(std::function<void(const std::string&)> sink) {
    if (!sink) {
      // "2024-05-01T12:00:00.123Z INFO admin: ...", as chatd's log lines; one write(2) per line, so
      // lines from several threads never interleave.
      sink = [](const std::string& line) {
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
        const std::time_t secs = static_cast<std::time_t>(ms / 1000);
        std::tm tm{};
        gmtime_r(&secs, &tm);
        char stamp[64];
        std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ INFO ", tm.tm_year + 1900,
                      tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
        const std::string out = stamp + line + "\n";
        ssize_t ignored = ::write(STDERR_FILENO, out.data(), out.size());
        (void)ignored;
      };
    }
    return [sink = std::move(sink)](const std::string& line) { sink(detail::SanitizeLogLine(line)); };
  }

  void Configure() {
    const unsigned threads = options_.threads;
    http_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    // httplib's default sets SO_REUSEPORT, which would let a second server share our port silently.
    http_.set_socket_options([](socket_t sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    // Bodies beyond the limit are refused (413) from Content-Length, before they are read.
    http_.set_payload_max_length(options_.max_body_bytes);
    auto split = [](std::chrono::milliseconds d) {
      return std::pair<time_t, time_t>(d.count() / 1000, (d.count() % 1000) * 1000);
    };
    http_.set_read_timeout(split(options_.read_timeout).first, split(options_.read_timeout).second);
    http_.set_write_timeout(split(options_.write_timeout).first, split(options_.write_timeout).second);
    // Whole seconds in httplib; at least one.
    http_.set_keep_alive_timeout(std::max<time_t>(1, (options_.keep_alive_timeout.count() + 999) / 1000));

    http_.set_pre_routing_handler([](const httplib::Request&, httplib::Response&) {
      request_start = std::chrono::steady_clock::now();
      return httplib::Server::HandlerResponse::Unhandled;
    });
    http_.set_logger([this](const httplib::Request& req, const httplib::Response& res) { Audit(req, res); });
    http_.set_error_handler(httplib::Server::HandlerWithResponse(
        [this](const httplib::Request& req, httplib::Response& res) { return OnHttpError(req, res); }));
    http_.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
      WriteError(res, ApiError(500, "internal", "unexpected failure"));
    });

    admin::Routes routes;
    admin::AddUserRoutes(ctx_, &routes);
    admin::AddModerationRoutes(ctx_, &routes);
    admin::AddChatRoutes(ctx_, &routes);
    admin::AddInboxRoutes(ctx_, &routes);
    admin::AddOperationRoutes(ctx_, &routes);
    admin::AddProvisionRoutes(ctx_, &routes);
    admin::AddAbuseRoutes(ctx_, &routes);
    admin::AddAccountRoutes(ctx_, &routes);
    for (auto& route : routes) {
      auto handler = [this, h = std::move(route.handler)](const httplib::Request& req, httplib::Response& res) {
        Dispatch(h, req, res);
      };
      if (route.method == "GET") {
        http_.Get(route.pattern, handler);
      } else if (route.method == "DELETE") {
        http_.Delete(route.pattern, handler);
      } else {
        http_.Post(route.pattern, handler);
      }
    }
  }

  // nullopt if the request carries the admin token; the 401 to send otherwise.
  std::optional<ApiError> Authenticate(const httplib::Request& req) const {
    if (!req.has_header("Authorization")) {
      return ApiError(401, "unauthenticated", "missing admin token: send 'Authorization: Bearer <token>'");
    }
    const std::string header = req.get_header_value("Authorization");
    auto token = admin::BearerToken(header);
    std::shared_ptr<const admin::TokenCheck> current;
    {
      MutexLock lock(&token_mu_);
      current = token_;
    }
    if (!token || !current->Matches(*token)) return ApiError(401, "unauthenticated", "wrong admin token");
    return std::nullopt;
  }

  void Dispatch(const admin::Handler& handler, const httplib::Request& req, httplib::Response& res) {
    if (auto denied = Authenticate(req)) return WriteError(res, *denied);
    // httplib reads a form-encoded body into the query parameters (curl -d sends one by default):
    // refuse it plainly rather than misreport its fields as unknown parameters.
    const std::string type = req.get_header_value("Content-Type");
    if (!req.body.empty() && !type.empty() && type.rfind("application/json", 0) != 0) {
      return WriteError(res, ApiError(415, "unsupported_media_type",
                                      "send the body as JSON, with 'Content-Type: application/json'"));
    }
    try {
      Write(res, handler(req));
    } catch (const ApiError& e) {
      WriteError(res, e);
    } catch (const std::exception& e) {
      // Nothing in the handlers throws by design but ApiError; anything else is a bug or out of memory.
      WriteError(res, ApiError(500, "internal", std::string("unexpected failure: ") + e.what()));
    }
  }

  // Called by httplib for every response of status >= 400: fills in a JSON error where httplib
  // refused the request itself (its body is then empty).
  httplib::Server::HandlerResponse OnHttpError(const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;  // One of ours.
    std::optional<ApiError> e;
    if (res.status == 413) {
      // The headers were read: a stranger learns nothing, not even the body limit, before the token.
      e = Authenticate(req);
      if (!e) {
        e = ApiError(413, "payload_too_large",
                     "the request body exceeds " + std::to_string(options_.max_body_bytes) + " bytes");
      }
    } else if (res.status == 404 || res.status == 405) {
      // Strangers learn nothing, not even which paths exist.
      e = Authenticate(req);
      if (!e) e = ApiError(404, "not_found", "no endpoint " + req.method + " " + req.path + " (see docs/admin.md)");
    } else if (res.status == 400) {
      e = admin::Malformed("malformed HTTP request");
    } else {
      e = ApiError(res.status, "http_error", "HTTP status " + std::to_string(res.status));
    }
    WriteError(res, *e);
    return httplib::Server::HandlerResponse::Handled;
  }

  static void Write(httplib::Response& res, const Reply& reply) {
    res.status = reply.status;
    // Responses may carry session tokens: no cache may keep them.
    res.set_header("Cache-Control", "no-store");
    if (!reply.content_type.empty()) {
      res.set_content(reply.text, reply.content_type.c_str());
      return;
    }
    // Invalid UTF-8 cannot come from the store (bodies are checked on the way in), but must not throw.
    res.set_content(reply.body.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n", "application/json");
  }

  static void WriteError(httplib::Response& res, const ApiError& e) {
    res.status = e.http_status();
    if (e.http_status() == 401) res.set_header("WWW-Authenticate", "Bearer realm=\"libchat-admin\"");
    if (e.http_status() == 503) res.set_header("Retry-After", "1");
    res.set_header("Cache-Control", "no-store");
    res.set_content(e.ToJson().dump(-1, ' ', false, Json::error_handler_t::replace) + "\n", "application/json");
  }

  void Audit(const httplib::Request& req, const httplib::Response& res) {
    std::string suppressed;
    if (res.status == 401) {
      // Refusals of strangers, a line per request otherwise: a few a minute per address.
      const detail::LogLimiter::Verdict v = refusal_log_.Admit(req.remote_addr);
      if (!v.log) return;
      if (v.suppressed > 0) suppressed = " (" + std::to_string(v.suppressed) + " more refusals not logged)";
    }
    // The path is percent-decoded by httplib: it may hold a newline, spaces that shift the fields
    // after it, or a quarter megabyte.
    std::string path = detail::LogEscape(req.path, 256);
    for (std::size_t at = 0; (at = path.find(' ', at)) != std::string::npos;) path.replace(at, 1, "%20");
    std::string line = "admin: " + req.remote_addr + " " + detail::LogEscape(req.method, 16) + " " + path + " " +
                       std::to_string(res.status) + suppressed;
    if (request_start != std::chrono::steady_clock::time_point()) {
      const auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                                            request_start);
      line += " " + std::to_string(us.count() / 1000) + "." + std::to_string(us.count() % 1000 / 100) + "ms";
      request_start = {};
    }
    ctx_.audit(line);
  }

  AdminOptions options_;
  detail::LogLimiter refusal_log_{detail::LogLimiterOptions{}, SystemClock()};
  // The current token's digest, replaced whole by SetToken.
  mutable Mutex token_mu_;
  std::shared_ptr<const admin::TokenCheck> token_ GUARDED_BY(token_mu_);
  admin::Context ctx_;
  httplib::Server http_;
  Mutex mu_;  // Start and Stop.
  bool started_ GUARDED_BY(mu_) = false;
  bool stopped_ GUARDED_BY(mu_) = false;
  std::thread thread_ GUARDED_BY(mu_);
};

}  // namespace

Status AdminServer::CheckToken(std::string_view token) {
  if (token.size() < kMinTokenBytes || !LooksRandom(token)) {
    return Status::InvalidArgument("the admin token must be at least " + std::to_string(kMinTokenBytes) +
                                   " bytes and look random, not repeat a few characters (e.g. "
                                   "`openssl rand -hex 32`)");
  }
  return Status::Ok();
}

Result<std::unique_ptr<AdminServer>> AdminServer::Create(AdminOptions options, ChatService& service,
                                                         std::function<std::string()> metrics_text) {
  LIBCHAT_RETURN_IF_ERROR(AdminServer::CheckToken(options.token));
  if (options.address.empty()) return Status::InvalidArgument("the admin API needs an address to listen on");
  if (options.threads == 0) return Status::InvalidArgument("the admin API needs at least one thread");
  if (options.max_body_bytes < 1024) return Status::InvalidArgument("admin max_body_bytes must be at least 1024");
  if (options.max_page == 0) return Status::InvalidArgument("admin max_page must be at least 1");
  if (options.max_provision == 0) return Status::InvalidArgument("admin max_provision must be at least 1");
  return std::unique_ptr<AdminServer>(
      std::make_unique<AdminServerImpl>(std::move(options), service, std::move(metrics_text)));
}

}  // namespace chat

#include "admin_client.h"

#include <httplib.h>

#include <map>

namespace chat::ctl {
namespace {

using Json = nlohmann::ordered_json;

// The API's error codes (docs/admin.md) back to libchat's codes.
StatusCode CodeOf(const std::string& api_code, int http_status) {
  static const std::map<std::string, StatusCode> codes = {
      {"not_found", StatusCode::kNotFound},
      {"invalid_argument", StatusCode::kInvalidArgument},
      {"malformed_request", StatusCode::kInvalidArgument},
      {"payload_too_large", StatusCode::kInvalidArgument},
      {"already_exists", StatusCode::kAlreadyExists},
      {"permission_denied", StatusCode::kPermissionDenied},
      {"unauthenticated", StatusCode::kUnauthenticated},
      {"unavailable", StatusCode::kUnavailable},
      {"resource_exhausted", StatusCode::kResourceExhausted},
      {"failed_precondition", StatusCode::kFailedPrecondition},
      {"corruption", StatusCode::kCorruption},
      {"not_supported", StatusCode::kNotSupported},
  };
  auto it = codes.find(api_code);
  if (it != codes.end()) return it->second;
  return http_status == 503 ? StatusCode::kUnavailable : StatusCode::kInternal;
}

Result<Json> Finish(const std::string& where, const httplib::Result& r) {
  if (!r) {
    return Status::Unavailable("cannot reach the admin API at " + where + ": " + httplib::to_string(r.error()) +
                               " (is chatd running with its admin API enabled?)");
  }
  Json body = Json::parse(r->body, nullptr, /*allow_exceptions=*/false);
  if (r->status >= 200 && r->status < 300) {
    if (body.is_discarded()) return Status::Internal(where + ": the admin API answered with something not JSON");
    return body;
  }
  if (!body.is_discarded() && body.contains("error") && body["error"].is_object()) {
    const Json& e = body["error"];
    const std::string code = e.value("code", "");
    std::string message = e.value("message", "");
    if (code == "unauthenticated") message += " (check --admin-token-file or CHATCTL_ADMIN_TOKEN)";
    return Status(CodeOf(code, r->status), message);
  }
  return Status(CodeOf("", r->status), where + ": HTTP " + std::to_string(r->status));
}

std::unique_ptr<httplib::Client> MakeClient(const std::string& origin, int timeout_seconds) {
  auto c = std::make_unique<httplib::Client>(origin);
  c->set_connection_timeout(std::min(timeout_seconds, 10), 0);
  c->set_read_timeout(timeout_seconds, 0);
  c->set_write_timeout(timeout_seconds, 0);
  return c;
}

}  // namespace

Result<HttpUrl> ParseHttpUrl(const std::string& url) {
  const std::size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return Status::InvalidArgument("'" + url + "' is not a URL (http://HOST:PORT)");
  const std::string scheme = url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") {
    return Status::InvalidArgument("'" + url + "': only http:// and https:// URLs are supported");
  }
  const std::size_t host_start = scheme_end + 3;
  const std::size_t path_start = url.find('/', host_start);
  HttpUrl out;
  out.origin = url.substr(0, path_start);
  if (out.origin.size() == host_start) return Status::InvalidArgument("'" + url + "' has no host");
  if (path_start != std::string::npos) {
    out.prefix = url.substr(path_start);
    while (!out.prefix.empty() && out.prefix.back() == '/') out.prefix.pop_back();
  }
  return out;
}

Result<std::string> FetchText(const std::string& url, int timeout_seconds) {
  LIBCHAT_ASSIGN_OR_RETURN(HttpUrl u, ParseHttpUrl(url));
  auto client = MakeClient(u.origin, timeout_seconds);
  auto r = client->Get(u.prefix.empty() ? "/" : u.prefix.c_str());
  if (!r) return Status::Unavailable("cannot reach " + url + ": " + httplib::to_string(r.error()));
  if (r->status != 200) {
    return Status(r->status == 404 ? StatusCode::kNotFound : StatusCode::kUnavailable,
                  url + ": HTTP " + std::to_string(r->status));
  }
  return r->body;
}

Result<std::unique_ptr<AdminClient>> AdminClient::Create(const std::string& url, std::string token,
                                                         int timeout_seconds) {
  LIBCHAT_ASSIGN_OR_RETURN(HttpUrl u, ParseHttpUrl(url));
  std::unique_ptr<AdminClient> c(new AdminClient());
  c->url_ = url;
  c->prefix_ = u.prefix;
  c->token_ = std::move(token);
  c->client_ = MakeClient(u.origin, timeout_seconds);
  c->client_->set_bearer_token_auth(c->token_);
  return c;
}

AdminClient::~AdminClient() = default;

Result<Json> AdminClient::Get(const std::string& path) {
  return Finish(url_, client_->Get((prefix_ + path).c_str()));
}

Result<Json> AdminClient::Post(const std::string& path, const Json& body) {
  return Finish(url_, client_->Post((prefix_ + path).c_str(), body.dump(), "application/json"));
}

Result<Json> AdminClient::Delete(const std::string& path) {
  return Finish(url_, client_->Delete((prefix_ + path).c_str()));
}

}  // namespace chat::ctl

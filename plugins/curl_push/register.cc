// URIs to sender options: the push schemes of this plugin (documented in docs/push.md).
#include <charconv>

#include "libchat/plugins/curl_push.h"

namespace chat {
namespace {

Status ParseMs(const Uri& uri, const std::string& key, TimeMs* out) {
  std::string v = uri.Get(key);
  if (v.empty()) return Status::Ok();
  TimeMs n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size() || n <= 0) {
    return Status::InvalidArgument(uri.ToString() + ": " + key + " must be a positive integer");
  }
  *out = n;
  return Status::Ok();
}

// The keys every scheme takes: HttpOptions.
Result<HttpOptions> ParseHttp(const Uri& uri) {
  HttpOptions h;
  LIBCHAT_RETURN_IF_ERROR(ParseMs(uri, "timeout_ms", &h.timeout_ms));
  LIBCHAT_RETURN_IF_ERROR(ParseMs(uri, "connect_timeout_ms", &h.connect_timeout_ms));
  TimeMs max_queue = static_cast<TimeMs>(h.max_queue);
  LIBCHAT_RETURN_IF_ERROR(ParseMs(uri, "max_queue", &max_queue));
  h.max_queue = static_cast<std::size_t>(max_queue);
  h.ca_file = uri.Get("ca_file");
  return h;
}

Result<std::unique_ptr<PushSender>> MakeWebhook(const Uri& uri) {
  LIBCHAT_RETURN_IF_ERROR(uri.CheckKeys({"secret", "timeout_ms", "connect_timeout_ms", "max_queue", "ca_file"}));
  if (uri.host.empty()) return Status::InvalidArgument(uri.ToString() + ": the gateway host is missing");
  WebhookOptions o;
  // "webhook+https" -> "https": the URI is the gateway's URL with a prefix naming the sender.
  o.url = uri.scheme.substr(uri.scheme.find('+') + 1) + "://" + uri.host + (uri.path.empty() ? "/" : uri.path);
  o.secret = uri.Get("secret");
  LIBCHAT_ASSIGN_OR_RETURN(o.http, ParseHttp(uri));
  return NewWebhookPushSender(std::move(o));
}

Result<std::unique_ptr<PushSender>> MakeFcm(const Uri& uri) {
  LIBCHAT_RETURN_IF_ERROR(uri.CheckKeys(
      {"credentials", "endpoint", "token_uri", "timeout_ms", "connect_timeout_ms", "max_queue", "ca_file"}));
  FcmOptions o;
  o.project_id = uri.host;
  o.credentials_file = uri.Get("credentials");
  if (o.credentials_file.empty()) return Status::InvalidArgument(uri.ToString() + ": credentials=FILE is required");
  o.endpoint = uri.Get("endpoint", o.endpoint);
  o.token_uri = uri.Get("token_uri");
  LIBCHAT_ASSIGN_OR_RETURN(o.http, ParseHttp(uri));
  return NewFcmPushSender(std::move(o));
}

Result<std::unique_ptr<PushSender>> MakeApns(const Uri& uri) {
  LIBCHAT_RETURN_IF_ERROR(uri.CheckKeys({"key_file", "key_id", "team_id", "topic", "endpoint", "timeout_ms",
                                         "connect_timeout_ms", "max_queue", "ca_file"}));
  ApnsOptions o;
  o.key_file = uri.Get("key_file");
  o.key_id = uri.Get("key_id");
  o.team_id = uri.Get("team_id");
  o.topic = uri.Get("topic");
  if (!uri.host.empty()) o.endpoint = "https://" + uri.host;
  o.endpoint = uri.Get("endpoint", o.endpoint);
  LIBCHAT_ASSIGN_OR_RETURN(o.http, ParseHttp(uri));
  return NewApnsPushSender(std::move(o));
}

}  // namespace

void RegisterCurlPush(Registry& registry) {
  registry.RegisterPush("webhook+http", MakeWebhook);
  registry.RegisterPush("webhook+https", MakeWebhook);
  registry.RegisterPush("fcm", MakeFcm);
  registry.RegisterPush("apns", MakeApns);
}

}  // namespace chat

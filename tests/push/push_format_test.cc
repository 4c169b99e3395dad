// The curl_push plugin's pure parts: request formats of webhook, FCM and APNs, how their answers map
// to Status, and JWT signing checked against an independent verifier with freshly generated keys.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "apns_format.h"
#include "fcm_format.h"
#include "jwt.h"
#include "test_keys.h"
#include "test_support.h"
#include "webhook_format.h"

namespace chat::curl_push {
namespace {

using json = nlohmann::json;

PushNotification MessageNotification() {
  PushNotification n;
  n.user = 2;
  n.device = 20;
  n.provider = "fcm";
  n.token = "00ff";
  n.chat = 7;
  n.chat_name = "Family";
  n.last_seq = 42;
  n.count = 3;
  n.sender = 1;
  return n;
}

PushNotification CallNotification() {
  PushNotification n = MessageNotification();
  n.call = true;
  n.call_id = "call-9";
  n.count = 1;
  n.expires_at = 1'700'000'045'000;
  return n;
}

HttpResponse Answer(long status, std::string body = "{}") {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

TEST_CASE("jwt: RS256 and ES256 tokens verify with the public key", "[push][unit]") {
  for (auto alg : {JwtAlgorithm::kRs256, JwtAlgorithm::kEs256}) {
    bool rsa = alg == JwtAlgorithm::kRs256;
    auto k = rsa ? test::NewRsaKey() : test::NewP256Key();
    auto key = SigningKey::FromPem(k.private_pem, alg, "test key");
    REQUIRE_OK(key);
    std::string header = json{{"alg", rsa ? "RS256" : "ES256"}, {"kid", "K1"}}.dump();
    auto token = key->Sign(header, json{{"iss", "me"}, {"iat", 1}}.dump());
    REQUIRE_OK(token);
    auto decoded = test::VerifyJwt(*token, k.public_pem);
    CHECK(decoded.signature_ok);
    CHECK(decoded.header["kid"] == "K1");
    CHECK(decoded.claims["iss"] == "me");
    // Another key's signature does not verify.
    auto other = rsa ? test::NewRsaKey() : test::NewP256Key();
    CHECK_FALSE(test::VerifyJwt(*token, other.public_pem).signature_ok);
  }
}

TEST_CASE("jwt: keys that do not suit the algorithm are refused", "[push][unit]") {
  auto rsa = test::NewRsaKey();
  auto ec = test::NewP256Key();
  CHECK_CODE(SigningKey::FromPem(ec.private_pem, JwtAlgorithm::kRs256, "k"), StatusCode::kInvalidArgument);
  CHECK_CODE(SigningKey::FromPem(rsa.private_pem, JwtAlgorithm::kEs256, "k"), StatusCode::kInvalidArgument);
  CHECK_CODE(SigningKey::FromPem("not a key", JwtAlgorithm::kEs256, "k"), StatusCode::kInvalidArgument);
  CHECK_CODE(SigningKey::FromPem(ec.public_pem, JwtAlgorithm::kEs256, "k"), StatusCode::kInvalidArgument);
}

TEST_CASE("jwt: base64url and HMAC-SHA256 match their specifications", "[push][unit]") {
  CHECK(Base64UrlEncode("") == "");
  CHECK(Base64UrlEncode("f") == "Zg");
  CHECK(Base64UrlEncode("fo") == "Zm8");
  CHECK(Base64UrlEncode("foo") == "Zm9v");
  CHECK(Base64UrlEncode("\xfb\xff") == "-_8");
  // RFC 4231, test case 2.
  CHECK(HmacSha256Hex("Jefe", "what do ya want for nothing?") ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("webhook: body carries no text without a preview", "[push][unit]") {
  json j = json::parse(WebhookBody(MessageNotification()));
  CHECK(j["type"] == "message");
  CHECK(j["priority"] == "normal");
  CHECK(j["provider"] == "fcm");
  CHECK(j["token"] == "00ff");
  CHECK(j["user"] == 2);
  CHECK(j["device"] == 20);
  CHECK(j["chat"] == 7);
  CHECK(j["chat_name"] == "Family");
  CHECK(j["count"] == 3);
  CHECK(j["last_seq"] == 42);
  CHECK(j["sender"] == 1);
  CHECK_FALSE(j.contains("preview"));
  CHECK_FALSE(j.contains("call_id"));
  PushNotification p = MessageNotification();
  p.preview = "hi there";
  CHECK(json::parse(WebhookBody(p))["preview"] == "hi there");
  json c = json::parse(WebhookBody(CallNotification()));
  CHECK(c["type"] == "call");
  CHECK(c["priority"] == "high");
  CHECK(c["call_id"] == "call-9");
  CHECK(c["expires_at"] == 1'700'000'045'000);
}

TEST_CASE("webhook: answers map to Status", "[push][unit]") {
  CHECK(WebhookStatus(Answer(200)).ok());
  CHECK(WebhookStatus(Answer(204, "")).ok());
  CHECK(WebhookStatus(Answer(410)).IsNotFound());
  CHECK(WebhookStatus(Answer(404, R"({"reason":"invalid_token"})")).IsNotFound());
  // A bare 404 is a wrong URL: it must not cost every device its token.
  CHECK(WebhookStatus(Answer(404, "Not Found")).code() == StatusCode::kInvalidArgument);
  CHECK(WebhookStatus(Answer(503)).IsRetryable());
  CHECK(WebhookStatus(Answer(500)).IsRetryable());
  CHECK(WebhookStatus(Answer(429)).IsRetryable());
  CHECK(WebhookStatus(Answer(400)).code() == StatusCode::kInvalidArgument);
  HttpResponse timeout;
  timeout.transport = Status::Unavailable("timed out");
  CHECK(WebhookStatus(timeout).IsRetryable());
}

TEST_CASE("fcm: HTTP v1 message format", "[push][unit]") {
  json j = json::parse(FcmMessageBody(MessageNotification(), 0));
  const json& m = j["message"];
  CHECK(m["token"] == "00ff");
  CHECK(m["data"]["type"] == "message");
  CHECK(m["data"]["count"] == "3");  // FCM data values are strings.
  CHECK(m["data"]["chat"] == "7");
  CHECK(m["data"]["last_seq"] == "42");
  CHECK(m["android"]["priority"] == "high");
  CHECK(m["android"]["collapse_key"] == "chat-7");
  CHECK_FALSE(m.contains("notification"));
  PushNotification p = MessageNotification();
  p.preview = "hi";
  json withp = json::parse(FcmMessageBody(p, 0))["message"];
  CHECK(withp["notification"]["title"] == "Family");
  CHECK(withp["notification"]["body"] == "hi");
  json call = json::parse(FcmMessageBody(CallNotification(), 1'700'000'000'000))["message"];
  CHECK(call["data"]["type"] == "call");
  CHECK(call["data"]["call_id"] == "call-9");
  CHECK(call["android"]["priority"] == "high");
  CHECK(call["android"]["ttl"] == "45s");
  CHECK_FALSE(call["android"].contains("collapse_key"));
}

TEST_CASE("fcm: answers map to Status", "[push][unit]") {
  const std::string unregistered = R"({"error":{"code":404,"message":"Requested entity was not found.",
    "status":"NOT_FOUND","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError",
    "errorCode":"UNREGISTERED"}]}})";
  CHECK(FcmStatus(Answer(200, R"({"name":"projects/p/messages/1"})")).status.ok());
  CHECK(FcmStatus(Answer(404, unregistered)).status.IsNotFound());
  CHECK(FcmStatus(Answer(404, "<html>no such path</html>")).status.code() == StatusCode::kInvalidArgument);
  auto auth = FcmStatus(Answer(401, R"({"error":{"code":401,"status":"UNAUTHENTICATED"}})"));
  CHECK(auth.status.IsRetryable());
  CHECK(auth.auth_expired);
  CHECK(FcmStatus(Answer(403, R"({"error":{"status":"PERMISSION_DENIED"}})")).status.code() ==
        StatusCode::kPermissionDenied);
  CHECK(FcmStatus(Answer(429)).status.IsRetryable());
  CHECK(FcmStatus(Answer(503)).status.IsRetryable());
  CHECK(FcmStatus(Answer(400, R"({"error":{"status":"INVALID_ARGUMENT"}})")).status.code() ==
        StatusCode::kInvalidArgument);
}

TEST_CASE("fcm: token endpoint answers", "[push][unit]") {
  auto ok = ParseTokenResponse(Answer(200, R"({"access_token":"ya29.x","expires_in":3599,"token_type":"Bearer"})"), 1000);
  REQUIRE_OK(ok);
  CHECK(ok->token == "ya29.x");
  CHECK(ok->expires_at == 1000 + 3599 * 1000);
  CHECK_CODE(ParseTokenResponse(Answer(400, R"({"error":"invalid_grant"})"), 0), StatusCode::kPermissionDenied);
  CHECK_CODE(ParseTokenResponse(Answer(503), 0), StatusCode::kUnavailable);
  CHECK_CODE(ParseTokenResponse(Answer(200, "{}"), 0), StatusCode::kUnavailable);
  CHECK(FcmTokenRequestBody("a.b-c_d") ==
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=a.b-c_d");
}

TEST_CASE("apns: request format for messages and calls", "[push][unit]") {
  auto r = ApnsRequestFor(MessageNotification(), "com.example.chat");
  REQUIRE_OK(r);
  CHECK(r->path == "/3/device/00ff");
  auto has = [&](const std::vector<std::string>& headers, const std::string& h) {
    return std::find(headers.begin(), headers.end(), h) != headers.end();
  };
  CHECK(has(r->headers, "apns-topic: com.example.chat"));
  CHECK(has(r->headers, "apns-push-type: alert"));
  CHECK(has(r->headers, "apns-priority: 10"));
  CHECK(has(r->headers, "apns-collapse-id: chat-7"));
  json b = json::parse(r->body);
  CHECK(b["aps"]["alert"]["title"] == "Family");
  CHECK(b["aps"]["alert"]["loc-key"] == "LIBCHAT_NEW_MESSAGES");
  CHECK(b["aps"]["alert"]["loc-args"] == json::array({"3"}));
  CHECK_FALSE(b["aps"]["alert"].contains("body"));
  CHECK(b["aps"]["thread-id"] == "chat-7");
  CHECK(b["count"] == 3);

  auto c = ApnsRequestFor(CallNotification(), "com.example.chat");
  REQUIRE_OK(c);
  CHECK(has(c->headers, "apns-topic: com.example.chat.voip"));
  CHECK(has(c->headers, "apns-push-type: voip"));
  CHECK(has(c->headers, "apns-priority: 10"));
  CHECK(has(c->headers, "apns-expiration: 1700000045"));
  json cb = json::parse(c->body);
  CHECK(cb["type"] == "call");
  CHECK(cb["call_id"] == "call-9");

  PushNotification bad = MessageNotification();
  bad.token = "../../admin";
  CHECK_CODE(ApnsRequestFor(bad, "t"), StatusCode::kNotFound);
}

TEST_CASE("apns: answers map to Status", "[push][unit]") {
  CHECK(ApnsStatus(Answer(200, "")).status.ok());
  CHECK(ApnsStatus(Answer(410, R"({"reason":"Unregistered","timestamp":1})")).status.IsNotFound());
  CHECK(ApnsStatus(Answer(400, R"({"reason":"BadDeviceToken"})")).status.IsNotFound());
  CHECK(ApnsStatus(Answer(400, R"({"reason":"BadTopic"})")).status.code() == StatusCode::kInvalidArgument);
  CHECK(ApnsStatus(Answer(404, R"({"reason":"BadPath"})")).status.code() == StatusCode::kInvalidArgument);
  auto expired = ApnsStatus(Answer(403, R"({"reason":"ExpiredProviderToken"})"));
  CHECK(expired.status.IsRetryable());
  CHECK(expired.token_expired);
  CHECK(ApnsStatus(Answer(403, R"({"reason":"InvalidProviderToken"})")).status.code() ==
        StatusCode::kPermissionDenied);
  CHECK(ApnsStatus(Answer(429, R"({"reason":"TooManyRequests"})")).status.IsRetryable());
  CHECK(ApnsStatus(Answer(503, R"({"reason":"ServiceUnavailable"})")).status.IsRetryable());
}

}  // namespace
}  // namespace chat::curl_push

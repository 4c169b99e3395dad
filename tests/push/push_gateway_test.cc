// Push end to end: ChatService on a real store, PushDispatcher, the curl_push senders made from their
// URIs, and a real HTTP server on 127.0.0.1 standing in for the webhook gateway, FCM and APNs.
// Time windows and backoff move with the ManualClock; HTTP answers arrive on libcurl's thread, so
// the tests wait for them with deadlines, never fixed sleeps.
#include <atomic>
#include <chrono>
#include <future>

#include "gateway.h"
#include "jwt.h"
#include "push_world.h"
#include "test_keys.h"

namespace chat::test {
namespace {

using json = nlohmann::json;

std::shared_ptr<PushSender> MakeSender(const std::string& uri) {
  auto s = Registry::Default().MakePush(uri);
  REQUIRE_OK(s);
  return std::shared_ptr<PushSender>(std::move(*s));
}

std::shared_ptr<PushSender> Webhook(const RecordingGateway& g, const std::string& query = "") {
  return MakeSender("webhook+http://127.0.0.1:" + std::to_string(g.port()) + "/push" + query);
}

PushStats Stats(PushWorld& w) { return w.dispatcher->Stats(); }

TEST_CASE("webhook: an offline device is pushed, an online device is not", "[push][integration]") {
  RecordingGateway gateway;
  PushWorld w;
  Session laptop = w.fx.NewDevice("bob");
  REQUIRE_OK(w.fx.service->SetPushToken(w.bob.user.id, laptop.device.id, "webhook", "tok-bob-laptop"));
  REQUIRE_OK(w.fx.service->SetPushToken(w.alice.user.id, w.alice.device.id, "webhook", "tok-alice"));
  w.live.Set(w.bob.user.id, laptop.device.id, true);
  w.Start(w.Options(), {{"*", Webhook(gateway)}});

  Message m = w.Send("dinner at 8?");
  w.PassWindow();
  REQUIRE(gateway.WaitForRequests(1) == 1);
  REQUIRE(Eventually([&] { return Stats(w).sent == 1; }));
  auto requests = gateway.Requests();
  REQUIRE(requests.size() == 1);
  const RecordedRequest& r = requests[0];
  CHECK(r.method == "POST");
  CHECK(r.path == "/push");
  CHECK(r.Header("Content-Type") == "application/json");
  json body = r.Json();
  CHECK(body["type"] == "message");
  CHECK(body["token"] == "tok-bob-phone");
  CHECK(body["device"] == w.bob.device.id);
  CHECK(body["user"] == w.bob.user.id);
  CHECK(body["chat"] == w.chat);
  CHECK(body["chat_name"] == "Family");
  CHECK(body["count"] == 1);
  CHECK(body["last_seq"] == m.seq);
  CHECK_FALSE(body.contains("preview"));  // No message text unless previews are enabled.
  // Nothing else went out: not to the live laptop, not to the sender.
  CHECK(Stats(w).scheduled == 1);
  w.dispatcher->RunDue();
  CHECK(gateway.Requests().size() == 1);
}

TEST_CASE("webhook: previews put the text in the body", "[push][integration]") {
  RecordingGateway gateway;
  PushWorld w;
  PushOptions o = w.Options();
  o.previews = true;
  w.Start(o, {{"*", Webhook(gateway)}});
  w.Send("dinner at 8?");
  w.PassWindow();
  REQUIRE(gateway.WaitForRequests(1) == 1);
  CHECK(gateway.Requests()[0].Json()["preview"] == "dinner at 8?");
}

TEST_CASE("webhook: a gateway failing three times then succeeding delivers exactly one notification",
          "[push][integration]") {
  RecordingGateway gateway;
  gateway.FailFirst(3, 503);
  PushWorld w;
  PushOptions o = w.Options();
  o.initial_backoff_ms = 1000;
  o.max_backoff_ms = 8000;
  w.Start(o, {{"*", Webhook(gateway)}});
  w.Send("are you there?");
  w.PassWindow();
  for (std::uint64_t failures = 1; failures <= 3; ++failures) {
    REQUIRE(Eventually([&] { return Stats(w).retried == failures; }));
    CHECK(Stats(w).pending == 1);  // Waiting out its backoff.
    w.fx.clock.Advance(o.max_backoff_ms);
    w.dispatcher->RunDue();
  }
  REQUIRE(Eventually([&] { return Stats(w).sent == 1; }));
  auto requests = gateway.Requests();
  REQUIRE(requests.size() == 4);
  int delivered = 0;
  for (const auto& r : requests) {
    delivered += r.answered == 200;
    CHECK(r.body == requests[0].body);  // The same notification each time.
  }
  CHECK(delivered == 1);
  auto stats = Stats(w);
  CHECK(stats.failed == 0);
  CHECK(stats.pending == 0);
  CHECK(stats.in_flight == 0);
}

TEST_CASE("webhook: 410 removes the device's token", "[push][integration]") {
  RecordingGateway gateway;
  gateway.FailFirst(1, 410);
  PushWorld w;
  w.Start(w.Options(), {{"*", Webhook(gateway)}});
  w.Send("hello");
  w.PassWindow();
  REQUIRE(Eventually([&] { return Stats(w).tokens_removed == 1; }));
  Device d = w.GetDevice(w.bob.device.id);
  CHECK(d.push_token.empty());
  CHECK(d.push_provider.empty());
  // No token, no more pushes.
  w.Send("hello again");
  w.PassWindow();
  CHECK(Stats(w).scheduled == 1);
  CHECK(gateway.Requests().size() == 1);
}

TEST_CASE("webhook: a burst of 50 messages yields one notification with count 50", "[push][integration]") {
  RecordingGateway gateway;
  PushWorld w;
  w.Start(w.Options(), {{"*", Webhook(gateway)}});
  Message last;
  for (int i = 0; i < 50; ++i) last = w.Send("burst " + std::to_string(i));
  w.PassWindow();
  REQUIRE(gateway.WaitForRequests(1) == 1);
  REQUIRE(Eventually([&] { return Stats(w).sent == 1; }));
  w.fx.clock.Advance(10000);
  w.dispatcher->RunDue();
  auto requests = gateway.Requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].Json()["count"] == 50);
  CHECK(requests[0].Json()["last_seq"] == last.seq);
  CHECK(Stats(w).coalesced == 49);
  CHECK(Stats(w).scheduled == 1);
}

TEST_CASE("webhook: a device that acknowledged before the push was due is not pushed", "[push][integration]") {
  RecordingGateway gateway;
  PushWorld w;
  w.Start(w.Options(), {{"*", Webhook(gateway)}});
  Message m = w.Send("seen it");
  w.dispatcher->RunDue();
  REQUIRE_OK(w.fx.service->Ack(w.bob.user.id, w.bob.device.id, w.chat, m.seq));
  w.PassWindow();
  CHECK(Stats(w).skipped_acked == 1);
  CHECK(Stats(w).in_flight == 0);
  CHECK(gateway.Requests().empty());
}

TEST_CASE("webhook: requests are signed when a secret is set", "[push][integration]") {
  RecordingGateway gateway;
  PushWorld w;
  w.Start(w.Options(), {{"*", Webhook(gateway, "?secret=s3cret")}});
  w.Send("hi");
  w.PassWindow();
  REQUIRE(gateway.WaitForRequests(1) == 1);
  auto r = gateway.Requests()[0];
  std::string ts = r.Header("X-Libchat-Timestamp");
  REQUIRE_FALSE(ts.empty());
  CHECK(r.Header("X-Libchat-Signature") == "v1=" + curl_push::HmacSha256Hex("s3cret", ts + "." + r.body));
}

TEST_CASE("webhook: a call is pushed at once with high priority, never coalesced", "[push][integration]") {
  RecordingGateway gateway;
  PushWorld w;
  w.Start(w.Options(), {{"*", Webhook(gateway)}});
  CallPush call;
  call.callee = w.bob.user.id;
  call.chat = w.chat;
  call.caller = w.alice.user.id;
  call.call_id = "call-1";
  REQUIRE_OK(w.dispatcher->NotifyCall(call));
  REQUIRE_OK(w.dispatcher->NotifyCall(call));  // A second ring of the same call is its own push.
  w.dispatcher->RunDue();                       // No window: the clock does not move.
  REQUIRE(gateway.WaitForRequests(2) == 2);
  for (const auto& r : gateway.Requests()) {
    json b = r.Json();
    CHECK(b["type"] == "call");
    CHECK(b["priority"] == "high");
    CHECK(b["call_id"] == "call-1");
    CHECK(b["sender"] == w.alice.user.id);
  }
}

TEST_CASE("webhook: pending notifications are recomputed after a restart", "[push][integration]") {
  RecordingGateway gateway;
  PushWorld w("leveldb");
  w.Start(w.Options(), {{"*", Webhook(gateway)}});
  w.Send("one");
  w.Send("two");
  Message three = w.Send("three");
  w.dispatcher->RunDue();
  REQUIRE(Stats(w).pending == 1);
  // chatd stops before the window closes: the notification was only in memory.
  w.dispatcher.reset();
  w.fx.Reopen();
  CHECK(gateway.Requests().empty());

  PushOptions o = w.Options();
  o.recover_on_start = true;
  w.Start(o, {{"*", Webhook(gateway)}});
  REQUIRE(Eventually([&] { return !Stats(w).recovering; }));
  CHECK(Stats(w).recovered == 1);
  w.PassWindow();
  REQUIRE(gateway.WaitForRequests(1) == 1);
  json b = gateway.Requests()[0].Json();
  CHECK(b["device"] == w.bob.device.id);
  CHECK(b["count"] == 3);
  CHECK(b["last_seq"] == three.seq);
}

// ------------------------------------------------------------------------------------------- FCM

struct FcmSetup {
  TempDir dir;
  TestKey key = NewRsaKey();
  std::string credentials = (dir.path() / "service-account.json").string();
  std::string token_uri;

  explicit FcmSetup(const RecordingGateway& g) : token_uri(g.base_url() + "/token") {
    json sa = {{"type", "service_account"},
               {"project_id", "test-project"},
               {"private_key_id", "kid-1"},
               {"private_key", key.private_pem},
               {"client_email", "push@test-project.iam.gserviceaccount.com"},
               {"token_uri", token_uri}};
    WriteFile(credentials, sa.dump());
  }
};

// Answers like Google: the token endpoint, then FCM's send; `send` decides the send's answer.
void ServeFcm(RecordingGateway& g, std::function<Answer()> send = [] {
  return Answer{200, R"({"name":"projects/test-project/messages/1"})"};
}) {
  g.SetResponder([send](const RecordedRequest& r, int) {
    if (r.path == "/token") return Answer{200, R"({"access_token":"ya29.test","expires_in":3600,"token_type":"Bearer"})"};
    return send();
  });
}

TEST_CASE("fcm: OAuth2 token from the service account, then an HTTP v1 send", "[push][integration]") {
  RecordingGateway gateway;
  ServeFcm(gateway);
  FcmSetup fcm(gateway);
  PushWorld w;
  REQUIRE_OK(w.fx.service->SetPushToken(w.bob.user.id, w.bob.device.id, "fcm", "fcm-token-bob"));
  w.Start(w.Options(), {{"fcm", MakeSender("fcm://?credentials=" + fcm.credentials + "&endpoint=" + gateway.base_url())}});
  Message m = w.Send("hi");
  w.PassWindow();
  REQUIRE(gateway.WaitForRequests(2) == 2);
  REQUIRE(Eventually([&] { return Stats(w).sent == 1; }));

  // The JWT bearer exchange (RFC 7523), signed RS256 with the service account's key.
  auto token_requests = gateway.Requests("/token");
  REQUIRE(token_requests.size() == 1);
  const RecordedRequest& t = token_requests[0];
  CHECK(t.Header("Content-Type") == "application/x-www-form-urlencoded");
  const std::string grant = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=";
  REQUIRE(t.body.rfind(grant, 0) == 0);
  DecodedJwt jwt = VerifyJwt(t.body.substr(grant.size()), fcm.key.public_pem);
  CHECK(jwt.signature_ok);
  CHECK(jwt.header["alg"] == "RS256");
  CHECK(jwt.header["kid"] == "kid-1");
  CHECK(jwt.claims["iss"] == "push@test-project.iam.gserviceaccount.com");
  CHECK(jwt.claims["scope"] == "https://www.googleapis.com/auth/firebase.messaging");
  CHECK(jwt.claims["aud"] == fcm.token_uri);
  CHECK(jwt.claims["exp"].get<std::int64_t>() - jwt.claims["iat"].get<std::int64_t>() == 3600);
  auto now_s = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  CHECK(std::abs(jwt.claims["iat"].get<std::int64_t>() - now_s) < 300);

  auto sends = gateway.Requests("/v1/");
  REQUIRE(sends.size() == 1);
  const RecordedRequest& s = sends[0];
  CHECK(s.path == "/v1/projects/test-project/messages:send");
  CHECK(s.Header("Authorization") == "Bearer ya29.test");
  json msg = s.Json()["message"];
  CHECK(msg["token"] == "fcm-token-bob");
  CHECK(msg["data"]["type"] == "message");
  CHECK(msg["data"]["chat"] == std::to_string(w.chat));
  CHECK(msg["data"]["count"] == "1");
  CHECK(msg["data"]["last_seq"] == std::to_string(m.seq));
  CHECK(msg["android"]["priority"] == "high");
  CHECK_FALSE(msg.contains("notification"));

  // The access token is cached: the next send goes straight to FCM.
  w.Send("again");
  w.PassWindow();
  REQUIRE(gateway.WaitForRequests(3) == 3);
  REQUIRE(Eventually([&] { return Stats(w).sent == 2; }));
  CHECK(gateway.Requests("/token").size() == 1);
}

TEST_CASE("fcm: UNREGISTERED removes the token", "[push][integration]") {
  RecordingGateway gateway;
  ServeFcm(gateway, [] {
    return Answer{404, R"({"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND",
      "details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}})"};
  });
  FcmSetup fcm(gateway);
  PushWorld w;
  REQUIRE_OK(w.fx.service->SetPushToken(w.bob.user.id, w.bob.device.id, "fcm", "stale"));
  w.Start(w.Options(), {{"*", MakeSender("fcm://test-project?credentials=" + fcm.credentials + "&endpoint=" +
                                         gateway.base_url())}});
  w.Send("hi");
  w.PassWindow();
  REQUIRE(Eventually([&] { return Stats(w).tokens_removed == 1; }));
  CHECK(w.GetDevice(w.bob.device.id).push_token.empty());
}

TEST_CASE("fcm: a refused service account fails the send without retries", "[push][integration]") {
  RecordingGateway gateway;
  gateway.SetResponder([](const RecordedRequest&, int) { return Answer{400, R"({"error":"invalid_grant"})"}; });
  FcmSetup fcm(gateway);
  PushWorld w;
  w.Start(w.Options(), {{"*", MakeSender("fcm://?credentials=" + fcm.credentials + "&endpoint=" + gateway.base_url())}});
  w.Send("hi");
  w.PassWindow();
  REQUIRE(Eventually([&] { return Stats(w).failed == 1; }));
  CHECK(Stats(w).retried == 0);
  CHECK(gateway.Requests("/v1/").empty());
  CHECK(w.GetDevice(w.bob.device.id).push_token == "tok-bob-phone");  // Not the token's fault.
}

// ------------------------------------------------------------------------------------------ APNs

TEST_CASE("apns: HTTP/2 request format with an ES256 provider token", "[push][integration]") {
  RecordingGateway gateway;
  TempDir dir;
  TestKey key = NewP256Key();
  std::string key_file = (dir.path() / "AuthKey_KEY1234567.p8").string();
  WriteFile(key_file, key.private_pem);
  PushWorld w;
  REQUIRE_OK(w.fx.service->SetPushToken(w.bob.user.id, w.bob.device.id, "apns", "a1b2c3d4e5f6"));
  w.Start(w.Options(), {{"apns", MakeSender("apns://?key_file=" + key_file +
                                            "&key_id=KEY1234567&team_id=TEAM456789&topic=com.example.chat&endpoint=" +
                                            gateway.base_url())}});
  w.Send("hi");
  w.PassWindow();
  REQUIRE(gateway.WaitForRequests(1) == 1);
  REQUIRE(Eventually([&] { return Stats(w).sent == 1; }));
  RecordedRequest r = gateway.Requests()[0];
  CHECK(r.path == "/3/device/a1b2c3d4e5f6");
  CHECK(r.Header("apns-topic") == "com.example.chat");
  CHECK(r.Header("apns-push-type") == "alert");
  CHECK(r.Header("apns-priority") == "10");
  CHECK(r.Header("apns-collapse-id") == "chat-" + std::to_string(w.chat));
  std::string auth = r.Header("authorization");
  REQUIRE(auth.rfind("bearer ", 0) == 0);
  DecodedJwt jwt = VerifyJwt(auth.substr(7), key.public_pem);
  CHECK(jwt.signature_ok);
  CHECK(jwt.header["alg"] == "ES256");
  CHECK(jwt.header["kid"] == "KEY1234567");
  CHECK(jwt.claims["iss"] == "TEAM456789");
  json b = r.Json();
  CHECK(b["aps"]["alert"]["title"] == "Family");
  CHECK(b["aps"]["alert"]["loc-args"] == json::array({"1"}));
  CHECK_FALSE(b["aps"]["alert"].contains("body"));

  // A call: VoIP push to the .voip topic, reusing the cached provider token.
  CallPush call;
  call.callee = w.bob.user.id;
  call.chat = w.chat;
  call.caller = w.alice.user.id;
  call.call_id = "call-7";
  REQUIRE_OK(w.dispatcher->NotifyCall(call));
  w.dispatcher->RunDue();
  REQUIRE(gateway.WaitForRequests(2) == 2);
  RecordedRequest c = gateway.Requests()[1];
  CHECK(c.Header("apns-push-type") == "voip");
  CHECK(c.Header("apns-topic") == "com.example.chat.voip");
  CHECK(c.Header("apns-priority") == "10");
  CHECK_FALSE(c.Header("apns-expiration").empty());
  CHECK(c.Header("authorization") == auth);
  CHECK(c.Json()["call_id"] == "call-7");
}

TEST_CASE("apns: Unregistered (410) removes the token", "[push][integration]") {
  RecordingGateway gateway;
  gateway.FailFirst(1, 410, R"({"reason":"Unregistered","timestamp":1700000000000})");
  TempDir dir;
  std::string key_file = (dir.path() / "key.p8").string();
  WriteFile(key_file, NewP256Key().private_pem);
  PushWorld w;
  REQUIRE_OK(w.fx.service->SetPushToken(w.bob.user.id, w.bob.device.id, "apns", "abcdef"));
  w.Start(w.Options(), {{"*", MakeSender("apns://?key_file=" + key_file +
                                         "&key_id=K&team_id=T&topic=com.example.chat&endpoint=" + gateway.base_url())}});
  w.Send("hi");
  w.PassWindow();
  REQUIRE(Eventually([&] { return Stats(w).tokens_removed == 1; }));
  CHECK(w.GetDevice(w.bob.device.id).push_token.empty());
}

// ------------------------------------------------------------------------------------------- TLS

struct TlsFiles {
  TempDir dir;
  std::string cert = (dir.path() / "cert.pem").string();
  std::string key = (dir.path() / "key.pem").string();
  TlsFiles() {
    TestCert c = NewLoopbackCert();
    WriteFile(cert, c.cert_pem);
    WriteFile(key, c.key_pem);
  }
};

Status SendOnce(PushSender& sender, const PushNotification& n) {
  std::promise<Status> result;
  sender.Send(n, [&](const Status& s) { result.set_value(s); });
  auto f = result.get_future();
  REQUIRE(f.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  return f.get();
}

TEST_CASE("https: webhook and APNs over TLS, verified against ca_file", "[push][integration]") {
  TlsFiles tls;
  RecordingGateway gateway(tls.cert, tls.key);
  PushNotification n;
  n.token = "abcdef";
  n.chat = 5;
  auto webhook = MakeSender("webhook+https://127.0.0.1:" + std::to_string(gateway.port()) + "/push?ca_file=" + tls.cert);
  REQUIRE_OK(SendOnce(*webhook, n));

  TempDir dir;
  std::string key_file = (dir.path() / "key.p8").string();
  WriteFile(key_file, NewP256Key().private_pem);
  // The production form: https, HTTP/2 offered via ALPN (this server falls back to HTTP/1.1).
  auto apns = MakeSender("apns://127.0.0.1:" + std::to_string(gateway.port()) + "?key_file=" + key_file +
                         "&key_id=K&team_id=T&topic=com.example.chat&ca_file=" + tls.cert);
  REQUIRE_OK(SendOnce(*apns, n));
  REQUIRE(gateway.Requests().size() == 2);
  CHECK(gateway.Requests()[0].path == "/push");
  CHECK(gateway.Requests()[1].path == "/3/device/abcdef");

  // A certificate nobody vouches for: refused, and not worth retrying.
  auto untrusted = MakeSender("webhook+https://127.0.0.1:" + std::to_string(gateway.port()) + "/push");
  Status s = SendOnce(*untrusted, n);
  INFO(s.ToString());
  CHECK(s.code() == StatusCode::kPermissionDenied);
  CHECK(gateway.Requests().size() == 2);
}

TEST_CASE("curl push URIs are checked when the sender is made", "[push][integration]") {
  auto& r = Registry::Default();
  CHECK_CODE(r.MakePush("webhook+http://127.0.0.1:9/x?nope=1"), StatusCode::kInvalidArgument);
  CHECK_CODE(r.MakePush("webhook+http:///x"), StatusCode::kInvalidArgument);
  CHECK_CODE(r.MakePush("webhook+http://127.0.0.1:9/x?timeout_ms=abc"), StatusCode::kInvalidArgument);
  CHECK_CODE(r.MakePush("fcm://p"), StatusCode::kInvalidArgument);
  CHECK_CODE(r.MakePush("fcm://p?credentials=/nonexistent.json"), StatusCode::kInvalidArgument);
  CHECK_CODE(r.MakePush("apns://?key_file=/nonexistent.p8&key_id=K&team_id=T&topic=t"), StatusCode::kInvalidArgument);
  CHECK_CODE(r.MakePush("apns://?key_id=K"), StatusCode::kInvalidArgument);
  TempDir dir;
  std::string rsa = (dir.path() / "rsa.p8").string();
  WriteFile(rsa, NewRsaKey().private_pem);
  // An RSA key where APNs needs P-256: refused at start, not on the first push.
  CHECK_CODE(r.MakePush("apns://?key_file=" + rsa + "&key_id=K&team_id=T&topic=t"), StatusCode::kInvalidArgument);
}

TEST_CASE("curl push: a request that times out is answered Unavailable", "[push][integration]") {
  std::atomic<bool> release{false};  // Outlives the gateway, whose handler reads it.
  RecordingGateway gateway;
  gateway.SetResponder([&](const RecordedRequest&, int) {
    // Holds the answer past the sender's timeout (bounded, so the server always stops).
    Eventually([&] { return release.load(); }, std::chrono::seconds(5));
    return Answer{};
  });
  auto sender = Webhook(gateway, "?timeout_ms=200");
  std::promise<Status> result;
  PushNotification n;
  n.token = "t";
  sender->Send(n, [&](const Status& s) { result.set_value(s); });
  auto f = result.get_future();
  REQUIRE(f.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
  Status s = f.get();
  INFO(s.ToString());
  CHECK(s.IsRetryable());
  release = true;
}

}  // namespace
}  // namespace chat::test

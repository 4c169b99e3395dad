// Attacks that cost the attacker little and the server or other users much (issue 11, "Security,
// round 2"), each tried the way an attacker would: a real chatd on 127.0.0.1, real clients, many
// connections, requests in loops. Each test failed before its fix.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "test_server.h"

namespace chat::test {
namespace {

using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// ---- Register floods ----

struct Latencies {
  std::vector<double> ms;
  double Percentile(double p) const {
    if (ms.empty()) return 0;
    std::vector<double> v = ms;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
  }
  double Max() const { return ms.empty() ? 0 : *std::max_element(ms.begin(), ms.end()); }
};

// listChats in a loop for `how_long`, one every 20 ms: what a signed-in user sees. `each` (if set)
// runs between calls, on this thread (Catch's assertions are for the test's thread only).
Latencies MeasureListChats(Client& client, std::chrono::milliseconds how_long, const std::function<void()>& each = {}) {
  Latencies out;
  const auto end = Clock::now() + how_long;
  while (Clock::now() < end) {
    if (each) each();
    const auto start = Clock::now();
    Reply r = client.Call("listChats");
    out.ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    if (!r.ok) out.ms.back() = 1e9;  // A failure counts as worse than any delay.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return out;
}

// `connections` clients from 127.0.0.1 calling register in a loop, each with fresh names, until
// stopped. Catch's assertions are not thread-safe: the threads only count.
class RegisterFlood {
 public:
  RegisterFlood(std::uint16_t port, int connections) {
    for (int t = 0; t < connections; ++t) {
      threads_.emplace_back([this, port, t] {
        ClientOptions o;
        o.request_timeout = std::chrono::seconds(60);
        // Connecting is not what is measured: on a loaded machine 32 connections made while the
        // first ones already keep the hash threads busy took more than the default 5 s (6 of 32 in
        // a CI-like run with three suites beside it).
        o.connect_timeout = std::chrono::seconds(60);
        auto c = Client::Connect("127.0.0.1", port, o);
        if (!c.ok()) {
          Unexpected("connect: " + c.status().ToString());
          return;
        }
        for (int i = 0; !stop_.load(); ++i) {
          const std::string name = "flood" + std::to_string(t) + "x" + std::to_string(i);
          Reply r = (*c)->Call("register", Json{{"username", name}, {"password", "flood-password-1"}}.dump());
          if (r.ok) {
            created_.fetch_add(1);
          } else if (r.code == "resource_exhausted" && r.retry_after_ms > 0) {
            refused_.fetch_add(1);
          } else {
            Unexpected(r.raw);
          }
        }
      });
    }
  }
  ~RegisterFlood() { Stop(); }
  void Stop() {
    stop_.store(true);
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  int created() const { return created_.load(); }
  int refused() const { return refused_.load(); }
  int other() const { return other_.load(); }
  // The first answer that was neither an account nor a rate-limit refusal ("" if none).
  std::string first_other() const {
    std::lock_guard<std::mutex> lock(mu_);
    return first_other_;
  }

 private:
  void Unexpected(const std::string& what) {
    if (other_.fetch_add(1) == 0) {
      std::lock_guard<std::mutex> lock(mu_);
      first_other_ = what;
    }
  }
  mutable std::mutex mu_;
  std::string first_other_;
  std::atomic<bool> stop_{false};
  std::atomic<int> created_{0};
  std::atomic<int> refused_{0};
  std::atomic<int> other_{0};
  std::vector<std::thread> threads_;
};

TEST_CASE("a register flood from one address neither slows a signed-in user nor makes more than a few accounts",
          "[integration][abuse]") {
  // The real Argon2id cost: what an attacker makes the server pay per register.
  TestServer s({"--password-cost", "interactive", "--rate-limits", "on"});
  RegisterUser(s.chatd(), "alice");
  LiveDevice alice = LoginDevice(s.chatd(), "alice", "phone");
  const Latencies quiet = MeasureListChats(*alice.client, std::chrono::seconds(1));

  RegisterFlood flood(s.port(), 32);
  const Latencies loaded = MeasureListChats(*alice.client, std::chrono::seconds(6));
  flood.Stop();
  std::printf("register flood, limits on: listChats p50 %.1f ms, p99 %.1f ms, max %.1f ms (quiet p50 %.1f ms); "
              "%d accounts made, %d refused\n",
              loaded.Percentile(0.5), loaded.Percentile(0.99), loaded.Max(), quiet.Percentile(0.5), flood.created(),
              flood.refused());
  INFO("first unexpected answer: " << flood.first_other());
  CHECK(flood.other() == 0);
  // Registration limit per address: 5 at once (alice took one), then 10 an hour.
  CHECK(flood.created() <= 5);
  CHECK(flood.refused() > 0);
  CHECK(loaded.Percentile(0.5) < 250);
  CHECK(loaded.Max() < 2000);
  CHECK(MetricValue(s.port(), "chat_registrations_refused_total") >= flood.refused());
}

TEST_CASE("with registration limits off, a register flood still cannot starve other work, hashes have their own threads",
          "[integration][abuse]") {
  TestServer s({"--password-cost", "interactive"});  // --rate-limits off: every register is hashed.
  RegisterUser(s.chatd(), "alice");
  LiveDevice alice = LoginDevice(s.chatd(), "alice", "phone");

  RegisterFlood flood(s.port(), 32);
  double deepest_queue = 0;
  int round = 0;
  const Latencies loaded = MeasureListChats(*alice.client, std::chrono::seconds(6), [&] {
    if (++round % 10 == 0) deepest_queue = std::max(deepest_queue, MetricValue(s.port(), "chat_hash_queue_depth"));
  });
  flood.Stop();
  std::printf("register flood, limits off: listChats p50 %.1f ms, p99 %.1f ms, max %.1f ms; %d accounts made, "
              "deepest hash queue %.0f\n",
              loaded.Percentile(0.5), loaded.Percentile(0.99), loaded.Max(), flood.created(), deepest_queue);
  INFO("first unexpected answer: " << flood.first_other());
  CHECK(flood.other() == 0);
  CHECK(flood.created() > 0);
  // Each connection waits for its answer: at most one queued register per connection, within the
  // hash queue's bound.
  CHECK(deepest_queue <= 64);
  CHECK(loaded.Percentile(0.5) < 250);
  // Starved, a listChats would have waited behind the hash queue: `deepest_queue` hashes at the pace
  // the flood's accounts were made (6 s / created a hash, all hash threads together). Served apart, it
  // waits at most for a core, a small part of that. Both grow with the machine's load, so the bound
  // is measured in this run, not fixed (a fixed 2 s failed once in a loaded ASan suite at 2.04 s, when
  // starving would have cost ~5 s; unloaded it is ~1 s, and the worst seen is ~0.13 s).
  const double starved_ms = deepest_queue * 6000.0 / std::max(1, flood.created());
  INFO("a listChats starved behind the hash queue would wait ~" << starved_ms << " ms");
  CHECK(loaded.Max() < std::max(250.0, starved_ms / 2));
}

// ---- Password checks ----

TEST_CASE("session-less removeDevice answers a right password with a wrong device exactly as a wrong password",
          "[integration][abuse]") {
  TestServer s;
  RegisterUser(s.chatd(), "victim");
  LiveDevice victim = LoginDevice(s.chatd(), "victim", "phone");
  auto attacker = s.chatd().Connect();
  auto remove = [&](const std::string& password, DeviceId device) {
    return attacker->Call("removeDevice",
                          Json{{"username", "victim"}, {"password", password}, {"deviceId", device}}.dump());
  };
  const Reply right_password = remove(PasswordOf("victim"), victim.id() + 1000);
  const Reply wrong_password = remove("not-the-password", victim.id() + 1000);
  const Reply wrong_for_device = remove("not-the-password", victim.id());
  INFO(right_password.raw << "\n" << wrong_password.raw << "\n" << wrong_for_device.raw);
  CHECK(right_password.code == "unauthenticated");
  CHECK(right_password.code == wrong_password.code);
  CHECK(right_password.message == wrong_password.message);
  CHECK(wrong_for_device.message == wrong_password.message);
  // Nothing changed: the device is still there and signed in.
  auto devices = victim.client->ListDevices();
  REQUIRE_OK(devices);
  CHECK(devices->size() == 1);
}

TEST_CASE("password spraying through session-less removeDevice is throttled per source address, as login is",
          "[integration][abuse]") {
  TestServer s;
  for (int i = 0; i < 5; ++i) RegisterUser(s.chatd(), "target" + std::to_string(i));
  RegisterUser(s.chatd(), "bystander");
  auto attacker = s.chatd().Connect();
  // One guess per name, all from 127.0.0.1: the spray the per-address count is there to stop.
  for (int i = 0; i < 5; ++i) {
    Reply r = attacker->Call("removeDevice", Json{{"username", "target" + std::to_string(i)},
                                                  {"password", "summer2024!"},
                                                  {"deviceId", 1}}
                                                 .dump());
    CHECK(r.code == "unauthenticated");
  }
  // The address is now held back, for removeDevice and login alike, whatever the name.
  Reply sixth = attacker->Call(
      "removeDevice", Json{{"username", "bystander"}, {"password", "summer2024!"}, {"deviceId", 1}}.dump());
  INFO(sixth.raw);
  CHECK(sixth.code == "resource_exhausted");
  CHECK(sixth.retry_after_ms > 0);
  Reply login = attacker->Call("login", Json{{"username", "bystander"},
                                             {"password", PasswordOf("bystander")},
                                             {"device", {{"kind", "phone"}}}}
                                            .dump());
  INFO(login.raw);
  CHECK(login.code == "resource_exhausted");
}

TEST_CASE("failed logins by someone else do not stop the owner changing the password from a signed-in device",
          "[integration][abuse]") {
  TestServer s;
  RegisterUser(s.chatd(), "victim");
  LiveDevice victim = LoginDevice(s.chatd(), "victim", "phone");
  auto attacker = s.chatd().Connect();
  // The last refusal: when its request was sent, and the wait it named. The server refused it at or
  // after `sent`, so the attacker is held back at least until sent + retry_after.
  Clock::time_point refused_sent{};
  std::int64_t refused_retry_ms = 0;
  for (int i = 0; i < 8; ++i) {
    const auto sent = Clock::now();
    Reply r = attacker->Call(
        "login", Json{{"username", "victim"}, {"password", "guess-" + std::to_string(i)}, {"device", {{"kind", "x"}}}}
                     .dump());
    CHECK((r.code == "unauthenticated" || r.code == "resource_exhausted"));
    if (r.code == "resource_exhausted") {
      refused_sent = sent;
      refused_retry_ms = r.retry_after_ms;
    }
  }
  REQUIRE(refused_retry_ms > 0);  // Five failures, then refusals.
  // The owner, signed in, is not held back by the attacker's failures (issue 11, item 5)...
  auto token = victim.client->ChangePassword(PasswordOf("victim"), "a-brand-new-password");
  INFO((token.ok() ? "" : token.error().ToString()));
  CHECK(token.ok());
  // ... while the attacker still is, even with the right (new) password: answered before the wait
  // the last refusal named was over, it is refused. (On a loaded machine the owner's password change
  // may outlast that wait of 1 s; then the attacker may log in, as the throttle promises.)
  Reply again = attacker->Call(
      "login", Json{{"username", "victim"}, {"password", "a-brand-new-password"}, {"device", {{"kind", "x"}}}}.dump());
  const bool within_wait = Clock::now() < refused_sent + std::chrono::milliseconds(refused_retry_ms);
  INFO(again.raw);
  if (within_wait) {
    CHECK(again.code == "resource_exhausted");
  } else {
    WARN("the password change outlasted the attacker's wait; the attacker's login is not checked");
    CHECK((again.code == "resource_exhausted" || again.code.empty()));
  }
}

TEST_CASE("register on a signed-in connection is refused like login and resume", "[integration][abuse]") {
  TestServer s;
  RegisterUser(s.chatd(), "alice");
  LiveDevice alice = LoginDevice(s.chatd(), "alice", "phone");
  Reply r = alice.client->Call("register", Json{{"username", "sybil1"}, {"password", "sybil-password"}}.dump());
  CHECK(r.code == "failed_precondition");
  auto other = s.chatd().Connect();
  CHECK(other->LookupUser("sybil1").status().code() != StatusCode::kOk);
}

// ---- Fan-out ----

// Users registered on a first chatd with the limits off (registrations are limited per address), then
// a chatd on the same data with --rate-limits on.
struct LimitedWorld {
  explicit LimitedWorld(const std::vector<std::string>& names) {
    {
      ChatdProcess setup(dir.str());
      for (const auto& n : names) ids.push_back(RegisterUser(setup, n));
    }
    chatd.emplace(dir.str(), std::vector<std::string>{"--rate-limits", "on"});
  }
  TempDir dir;
  std::vector<UserId> ids;
  std::optional<ChatdProcess> chatd;
};

std::size_t CountEvents(Client& client, const std::string& name, std::chrono::milliseconds settle) {
  std::this_thread::sleep_for(settle);
  std::size_t n = 0;
  for (const auto& e : client.TakeEvents()) n += e.name == name ? 1 : 0;
  return n;
}

TEST_CASE("3000 typing requests reach another member as a handful of typing events", "[integration][abuse]") {
  std::vector<std::string> names = {"alice", "bob"};
  for (int i = 0; i < 8; ++i) names.push_back("member" + std::to_string(i));
  LimitedWorld w(names);
  LiveDevice alice = LoginDevice(*w.chatd, "alice", "phone");
  LiveDevice bob = LoginDevice(*w.chatd, "bob", "phone");
  auto chat = alice.client->CreateGroup("typing", std::vector<UserId>(w.ids.begin() + 1, w.ids.end()));
  REQUIRE_OK(chat);
  bob.client->TakeEvents();
  int ok = 0;
  int refused = 0;
  int other = 0;
  const auto start = Clock::now();
  for (int i = 0; i < 3000; ++i) {
    // Toggling, so that every request is a change; then the same state again and again.
    const bool typing = i < 1000 ? (i % 2 == 0) : true;
    Reply r = alice.client->Call("typing", Json{{"chatId", chat->id}, {"typing", typing}}.dump());
    if (r.ok) {
      ++ok;
    } else if (r.code == "resource_exhausted" && r.retry_after_ms > 0) {
      ++refused;
    } else {
      ++other;
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const std::size_t seen = CountEvents(*bob.client, "typing", std::chrono::milliseconds(500));
  std::printf("typing flood: %d accepted, %d refused in %.1f s; the other member got %zu typing events\n", ok,
              refused, seconds, seen);
  CHECK(other == 0);
  CHECK(refused > 0);
  // typing_per_user: 20 at once, then 60 a minute, over the loop's seconds.
  CHECK(static_cast<double>(seen) <= 21 + seconds);
  CHECK(seen >= 1);
}

TEST_CASE("callInvite and hangup in a loop ring the callee a handful of times and log a handful of calls",
          "[integration][abuse]") {
  LimitedWorld w({"alice", "bob"});
  LiveDevice alice = LoginDevice(*w.chatd, "alice", "phone");
  LiveDevice bob = LoginDevice(*w.chatd, "bob", "phone");
  auto chat = alice.client->CreateDirect(bob.user());
  REQUIRE_OK(chat);
  bob.client->TakeEvents();
  const std::string sdp = "v=0\r\n" + std::string(60 * 1024, 'a');
  int invited = 0;
  int refused = 0;
  int other = 0;
  const auto start = Clock::now();
  // 100 tries: 5 go out at once, the rest meet the limit (each refusal parses a 60 KiB request).
  for (int i = 0; i < 100; ++i) {
    Reply r = alice.client->Call("callInvite", Json{{"chatId", chat->id}, {"media", "audio"}, {"sdp", sdp}}.dump());
    if (!r.ok) {
      (r.code == "resource_exhausted" ? refused : other) += 1;
      continue;
    }
    ++invited;
    const std::string call_id = Json::parse(r.result).at("callId");
    REQUIRE(alice.client->Call("callHangup", Json{{"callId", call_id}}.dump()).ok);
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const std::size_t rings = CountEvents(*bob.client, "callRing", std::chrono::milliseconds(500));
  std::size_t call_entries = 0;
  for (const Message& m : SyncAll(*bob.client, chat->id)) call_entries += m.kind == MessageKind::kCall ? 1 : 0;
  std::printf("call flood: %d invitations went out, %d refused; the callee was rung %zu times, %zu call entries\n",
              invited, refused, rings, call_entries);
  CHECK(other == 0);
  CHECK(invited <= 6 + static_cast<int>(seconds / 6));  // invite_per_user: 5 at once, then 10 a minute.
  CHECK(rings == static_cast<std::size_t>(invited));
  CHECK(call_entries == static_cast<std::size_t>(invited));
}

TEST_CASE("one user cannot hold more than max_calls_per_user calls, from however many devices", "[integration][abuse]") {
  LimitedWorld w({"alice", "bob", "carol", "dave", "erin"});
  std::vector<LiveDevice> devices;
  for (int i = 0; i < 4; ++i) devices.push_back(LoginDevice(*w.chatd, "alice", "device" + std::to_string(i)));
  std::vector<Reply> replies;
  for (int i = 0; i < 4; ++i) {
    auto chat = devices[static_cast<std::size_t>(i)].client->CreateDirect(w.ids[static_cast<std::size_t>(i) + 1]);
    REQUIRE_OK(chat);
    replies.push_back(devices[static_cast<std::size_t>(i)].client->Call(
        "callInvite", Json{{"chatId", chat->id}, {"media", "audio"}, {"sdp", "v=0"}}.dump()));
  }
  CHECK(replies[0].ok);
  CHECK(replies[1].ok);
  CHECK(replies[2].ok);
  INFO(replies[3].raw);
  CHECK(replies[3].code == "resource_exhausted");
}

TEST_CASE("reconnecting in a loop is limited per user, so presence churn stays bounded", "[integration][abuse]") {
  LimitedWorld w({"alice", "bob"});
  LiveDevice bob = LoginDevice(*w.chatd, "bob", "phone");
  LiveDevice alice = LoginDevice(*w.chatd, "alice", "phone");
  REQUIRE_OK(alice.client->CreateGroup("presence", {bob.user()}));
  const std::string token = alice.session.token;
  alice.client->Close();
  bob.client->TakeEvents();
  int resumed = 0;
  int refused = 0;
  int other = 0;
  const auto start = Clock::now();
  for (int i = 0; i < 60; ++i) {
    auto c = w.chatd->Connect();
    Reply r = c->Call("resume", Json{{"token", token}}.dump());
    if (r.ok) {
      ++resumed;
    } else if (r.code == "resource_exhausted" && r.retry_after_ms > 0) {
      ++refused;
    } else {
      ++other;
    }
    c->Close();
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const std::size_t presence = CountEvents(*bob.client, "presence", std::chrono::milliseconds(500));
  std::printf("reconnect loop: %d resumed, %d refused; the partner got %zu presence events\n", resumed, refused,
              presence);
  CHECK(other == 0);
  CHECK(resumed <= 21 + static_cast<int>(seconds / 3));  // resume_per_user: 20 at once, then 20 a minute.
  CHECK(refused > 0);
  CHECK(presence <= 2 * static_cast<std::size_t>(resumed) + 2);
}

// ---- Spam reports ----

TEST_CASE("six new accounts reporting one message do not silence its sender", "[integration][abuse]") {
  TestServer s;
  RegisterUser(s.chatd(), "victim");
  std::vector<UserId> members;
  for (int i = 0; i < 6; ++i) members.push_back(RegisterUser(s.chatd(), "sybil" + std::to_string(i)));
  LiveDevice victim = LoginDevice(s.chatd(), "victim", "phone");
  auto chat = victim.client->CreateGroup("g", members);
  REQUIRE_OK(chat);
  auto hi = victim.client->SendMessage(chat->id, "hi", "hi");
  REQUIRE_OK(hi);
  for (int i = 0; i < 6; ++i) {
    LiveDevice sybil = LoginDevice(s.chatd(), "sybil" + std::to_string(i), "phone");
    Reply r = sybil.client->Call("reportMessage", Json{{"chatId", chat->id}, {"seq", hi->message.seq}}.dump());
    INFO(r.raw);
    REQUIRE(r.ok);
  }
  // Still sending, not even throttled: a few messages in a row go through.
  for (int i = 0; i < 5; ++i) {
    auto sent = victim.client->SendMessage(chat->id, "after" + std::to_string(i), "still here " + std::to_string(i));
    INFO((sent.ok() ? "" : sent.error().ToString()));
    CHECK(sent.ok());
  }
}

// ---- Spam scoring that invisible characters and groups of two used to get around ----

TEST_CASE("zero-width characters do not hide one text sent to many chats", "[integration][abuse]") {
  TestServer s;
  RegisterUser(s.chatd(), "spammer");
  const UserId bob = RegisterUser(s.chatd(), "bob");
  const UserId carol = RegisterUser(s.chatd(), "carol");
  LiveDevice spammer = LoginDevice(s.chatd(), "spammer", "phone");
  // A different invisible character in each copy: U+200B, U+200C, U+200D, U+2060, U+FEFF, U+00AD.
  const std::vector<std::string> invisible = {"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"};
  int refused = 0;
  for (int i = 0; i < 14; ++i) {
    auto chat = spammer.client->CreateGroup("g" + std::to_string(i), {bob, carol});
    REQUIRE_OK(chat);
    // Every copy differs byte for byte: another character, at another place.
    std::string text = "cheap watches for sale";
    text.insert(1 + static_cast<std::size_t>(i), invisible[static_cast<std::size_t>(i) % invisible.size()]);
    auto sent = spammer.client->SendMessage(chat->id, "m" + std::to_string(i), text);
    if (!sent.ok()) {
      CHECK((sent.error().code() == StatusCode::kResourceExhausted ||
             sent.error().code() == StatusCode::kPermissionDenied));
      ++refused;
    }
  }
  // Free for 3 chats, 4 points a chat after: throttled from the 6th, so some of 14 are refused.
  CHECK(refused > 0);
}

TEST_CASE("a new account messaging strangers through groups of two is scored as through direct chats",
          "[integration][abuse]") {
  TestServer s;
  RegisterUser(s.chatd(), "spammer");
  std::vector<UserId> strangers;
  for (int i = 0; i < 8; ++i) strangers.push_back(RegisterUser(s.chatd(), "stranger" + std::to_string(i)));
  LiveDevice spammer = LoginDevice(s.chatd(), "spammer", "phone");
  ChatId last = 0;
  for (int i = 0; i < 8; ++i) {
    auto chat = spammer.client->CreateGroup("pair" + std::to_string(i), {strangers[static_cast<std::size_t>(i)]});
    REQUIRE_OK(chat);
    // Too short for the duplicate rule: only the strangers count.
    REQUIRE_OK(spammer.client->SendMessage(chat->id, "p" + std::to_string(i), "hi"));
    last = chat->id;
  }
  // Five strangers are free, each further one 5 points: 15 after the 8th, over the throttle at 10 (3
  // sends at once, then 6 a minute) while it decays.
  int refused = 0;
  for (int k = 0; k < 6; ++k) {
    auto sent = spammer.client->SendMessage(last, "more" + std::to_string(k), "hi");
    if (!sent.ok()) {
      CHECK(sent.error().code() == StatusCode::kResourceExhausted);
      ++refused;
    }
  }
  CHECK(refused > 0);
}

// ---- Response size ----

TEST_CASE("sync and history pages stay under maxResponseBytes even when every byte escapes to six",
          "[integration][abuse]") {
  TestServer s;
  RegisterUser(s.chatd(), "alice");
  const UserId bob = RegisterUser(s.chatd(), "bob");
  LiveDevice alice = LoginDevice(s.chatd(), "alice", "phone");
  auto chat = alice.client->CreateGroup("controls", {bob});
  REQUIRE_OK(chat);
  // 40,000 control characters: 240,000 bytes once JSON-escaped (\u0001), under the frame limit.
  const std::string controls(40'000, '\x01');
  constexpr int kMessages = 25;
  for (int i = 0; i < kMessages; ++i) REQUIRE_OK(alice.client->SendMessage(chat->id, "c" + std::to_string(i), controls));
  // A reader that takes frames of up to 2 MiB, twice the default maxResponseBytes (1 MiB).
  ClientOptions small;
  small.max_frame_bytes = 2 * 1024 * 1024;
  LiveDevice bob_device;
  bob_device.client = s.chatd().Connect(small);
  auto session = bob_device.client->Login("bob", PasswordOf("bob"), "phone", "small frames");
  REQUIRE_OK(session);
  constexpr std::size_t kLimit = 1024 * 1024 + 4096;  // maxResponseBytes and the response's own fields.
  Seq after = 0;
  int read = 0;
  for (int pages = 0; pages < 100 && read < kMessages; ++pages) {
    Reply r = bob_device.client->Call("sync", Json{{"chats", {{std::to_string(chat->id), after}}}}.dump());
    INFO("page " << pages << ": " << r.code << " " << r.message);
    REQUIRE(r.ok);
    CHECK(r.raw.size() <= kLimit);
    const Json page = Json::parse(r.result).at("chats").at(0);
    for (const Json& m : page.at("messages")) {
      after = m.at("seq");
      read += m.at("body").get<std::string>() == controls ? 1 : 0;
    }
    if (!page.at("hasMore").get<bool>()) break;
  }
  CHECK(read == kMessages);
  Reply history = bob_device.client->Call("history", Json{{"chatId", chat->id}}.dump());
  REQUIRE(history.ok);
  CHECK(history.raw.size() <= kLimit);
}

TEST_CASE("sync refuses non-canonical chat keys: 1, 01 and 001 are not three chats", "[integration][abuse]") {
  TestServer s;
  RegisterUser(s.chatd(), "alice");
  LiveDevice alice = LoginDevice(s.chatd(), "alice", "phone");
  auto chat = alice.client->CreateGroup("g", {});
  REQUIRE_OK(chat);
  const std::string id = std::to_string(chat->id);
  Reply r = alice.client->Call("sync", Json{{"chats", {{id, 0}, {"0" + id, 0}, {"00" + id, 0}}}}.dump());
  INFO(r.raw);
  CHECK(r.code == "bad_request");
  CHECK(alice.client->Call("sync", Json{{"chats", {{id, 0}}}}.dump()).ok);
}

}  // namespace
}  // namespace chat::test

// The NATS bus (nats_bus.h). Subjects, per event (docs/scaling.md, "Subjects"):
//
//   PREFIX.c.<chat>   every event of a chat (entries, receipts, typing, call signals): one publish;
//                     NATS forwards it to the nodes that watch the chat (WatchChat), once per node
//   PREFIX.u.<user>   events of no chat (presence), one publish per recipient; and a kChatUpdate once
//                     more per recipient, so that the node of a member just added learns of the chat
//   PREFIX.all        revocations: every node (its sessions and its access cache); a device's new
//                     session on a node where it had one (kDeviceOnline: the calls each node holds)
//   PREFIX.r.<addr>   requests to the one node that serves an address (Bus::Serve; a call's owner
//                     node, docs/scaling.md "Calls"), answered on the asker's inbox
//
// Local delivery does not go through NATS: Publish calls this node's handlers at once, in order, and
// the connection has "no echo", so a node never receives its own events back. Events of other nodes
// arrive on nats.c's delivery thread (one, shared by every subscription of the process), are parsed
// (ParseEvent) and handed to the Subscribe handlers, which only queue them (bus.h).
#include "libchat/plugins/nats_bus.h"

#include <nats/nats.h>

#include <atomic>
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "mutex.h"
#include "recent_entries.h"

namespace chat {
namespace {

using detail::CondVar;
using detail::Mutex;
using detail::MutexLock;
using detail::ReaderLock;
using detail::SharedMutex;
using detail::WriterLock;

// What nats.c's callbacks reach: it outlives every subscription (the bus waits for their completion
// callbacks before it goes), so a callback never finds it destroyed.
struct Core : std::enable_shared_from_this<Core> {
  std::string prefix;
  std::string prefix_token;  // The prefix as a bucket-name token (OpenSharedKv).
  // How long a shared bucket's request waits for its answer, unless the bucket asks for another
  // (URI key kv_timeout_ms; SharedKvOptions::request_timeout_ms).
  long kv_timeout_ms = 5000;

  SharedMutex mu;
  bool closed GUARDED_BY(mu) = false;
  std::uint64_t next_id GUARDED_BY(mu) = 1;
  std::map<std::uint64_t, Bus::Handler> all GUARDED_BY(mu);    // Every event: this node's and others'.
  std::map<std::uint64_t, Bus::Handler> local GUARDED_BY(mu);  // This node's only.
  std::map<std::uint64_t, std::function<void()>> loss GUARDED_BY(mu);
  // Served request subjects (Bus::Serve) and their handlers.
  std::map<std::string, Bus::RequestHandler> served GUARDED_BY(mu);
  // Set once connected, before any subscription; replies are published on it while not closed.
  natsConnection* conn GUARDED_BY(mu) = nullptr;

  // nats.c subscriptions not yet completed (their handler may still be called), and whether the
  // connection's closed callback has run (the last of its callbacks: disconnected, reconnected and
  // error callbacks come before it, on the same thread).
  Mutex subs_mu;
  CondVar subs_done;
  int live_subs GUARDED_BY(subs_mu) = 0;
  bool conn_closed GUARDED_BY(subs_mu) = false;

  std::atomic<std::uint64_t> malformed{0};

  // This node's latest entries per chat, published again after a reconnect (recent_entries.h). Set
  // before the connection is made.
  std::unique_ptr<detail::RecentEntries> recent;

  // Publishes `e` to other nodes on its subjects. nats.c buffers it (also while reconnecting, up to its
  // reconnect buffer); a failure loses it for them, and their gap repair reads it from the store when a
  // later entry of the chat comes, or RecentEntries' publication after the reconnect shows them the gap.
  static void Send(natsConnection* conn, const std::string& prefix, const Event& e) {
    const std::string bytes = SerializeEvent(e);
    auto send = [&](const std::string& subject) {
      natsConnection_Publish(conn, subject.c_str(), bytes.data(), static_cast<int>(bytes.size()));
    };
    if (e.type == EventType::kSessionRevoked || e.type == EventType::kDeviceOnline) return send(prefix + ".all");
    if (e.chat != 0) send(prefix + ".c." + std::to_string(e.chat));
    if (e.chat == 0 || e.type == EventType::kChatUpdate) {
      for (UserId u : e.recipients) send(prefix + ".u." + std::to_string(u));
    }
  }
  // After a reconnect: the latest entries again (receivers drop what they have).
  void Republish() {
    const auto again = recent->Reconnected(std::chrono::steady_clock::now());
    ReaderLock lock(&mu);
    if (closed || conn == nullptr) return;
    for (const auto& e : again) Send(conn, prefix, *e);
  }

  void Remote(std::shared_ptr<const Event> e) {
    ReaderLock lock(&mu);
    if (closed) return;
    for (const auto& [id, h] : all) h(e);
  }
  void PossibleLoss() {
    ReaderLock lock(&mu);
    if (closed) return;
    for (const auto& [id, fn] : loss) fn();
  }
  Subscription Add(std::map<std::uint64_t, Bus::Handler> Core::*which, Bus::Handler h,
                   const std::shared_ptr<Core>& self) {
    std::uint64_t id = 0;
    {
      WriterLock lock(&mu);
      id = next_id++;
      (this->*which).emplace(id, std::move(h));
    }
    std::weak_ptr<Core> weak = self;
    return Subscription([weak, which, id] {
      if (auto c = weak.lock()) {
        // The writer lock waits for handler calls in progress: none is once this returns.
        WriterLock lock(&c->mu);
        (c.get()->*which).erase(id);
      }
    });
  }
};

void OnMessage(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  auto* core = static_cast<Core*>(closure);
  auto event = ParseEvent(std::string_view(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg))));
  natsMsg_Destroy(msg);
  if (!event.ok()) {
    // A newer node's format, or not ours at all: skipped (counted), never half-delivered.
    core->malformed.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  core->Remote(std::make_shared<const Event>(std::move(*event)));
}

// A request to a served subject (Bus::Serve): handed to its handler with a way to answer it, which
// may be used later from any thread (it publishes nothing once the bus is closed).
void OnRequest(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  auto* core = static_cast<Core*>(closure);
  const char* reply_to = natsMsg_GetReply(msg);
  std::string subject = natsMsg_GetSubject(msg);
  std::string request(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
  std::string inbox = reply_to != nullptr ? reply_to : "";
  natsMsg_Destroy(msg);
  if (inbox.empty()) return;  // Not a request: nobody waits for an answer.
  ReaderLock lock(&core->mu);
  if (core->closed) return;
  auto it = core->served.find(subject);
  if (it == core->served.end()) return;  // Served no more; the asker times out.
  std::weak_ptr<Core> weak = core->weak_from_this();
  it->second(std::move(request), [weak, inbox = std::move(inbox)](std::string answer) {
    auto c = weak.lock();
    if (!c) return;
    ReaderLock l(&c->mu);
    if (c->closed) return;
    natsConnection_Publish(c->conn, inbox.c_str(), answer.data(), static_cast<int>(answer.size()));
  });
}

void OnSubscriptionComplete(void* closure) {
  auto* core = static_cast<Core*>(closure);
  {
    MutexLock lock(&core->subs_mu);
    --core->live_subs;
  }
  core->subs_done.SignalAll();
}

void OnReconnected(natsConnection*, void* closure) {
  auto* core = static_cast<Core*>(closure);
  core->PossibleLoss();
  core->Republish();
}

void OnDisconnected(natsConnection*, void* closure) { static_cast<Core*>(closure)->recent->Disconnected(); }

void OnClosed(natsConnection*, void* closure) {
  auto* core = static_cast<Core*>(closure);
  // Signalled under the lock: the bus's destructor, waiting for this, cannot free the core before
  // this callback has let go of it.
  MutexLock lock(&core->subs_mu);
  core->conn_closed = true;
  core->subs_done.SignalAll();
}

void OnAsyncError(natsConnection*, natsSubscription*, natsStatus err, void* closure) {
  // A slow consumer: the client dropped messages of a subscription whose queue was full.
  if (err == NATS_SLOW_CONSUMER) static_cast<Core*>(closure)->PossibleLoss();
}

// nats.c's last error text of this thread ("" if none: nats_GetLastError returns null then).
std::string LastError() {
  const char* e = nats_GetLastError(nullptr);
  return e != nullptr ? e : "";
}

std::string Describe(const Uri& uri) {
  std::string host = uri.host;
  if (std::size_t at = host.rfind('@'); at != std::string::npos) host = host.substr(at + 1);  // No credentials.
  return "nats://" + host;
}

Result<long> IntOption(const Uri& uri, const std::string& key, long fallback, long lo, long hi) {
  const std::string v = uri.Get(key);
  if (v.empty()) return fallback;
  char* end = nullptr;
  const long n = std::strtol(v.c_str(), &end, 10);
  if (end == v.c_str() || *end != '\0' || n < lo || n > hi) {
    return Status::InvalidArgument(key + "=" + v + ": expected a whole number from " + std::to_string(lo) + " to " +
                                   std::to_string(hi));
  }
  return n;
}

// A subject token may not contain '.', '*', '>' or white space.
bool ValidToken(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c == '*' || c == '>' || c == ' ' || c == '\t' || c == '\r' || c == '\n') return false;
  }
  return s.front() != '.' && s.back() != '.' && s.find("..") == std::string::npos;
}

// A bucket of JetStream's key-value store (shared_kv.h): a stream KV_<name>, in memory on the NATS
// servers, replicated on up to 3 of them, one value per key (history 1).
class NatsSharedKv final : public SharedKv {
 public:
  // `js` is the bus's context, which outlives this (bus.h: OpenSharedKv), or `own_js`, the bucket's own
  // (its request timeout), destroyed here after `kv`.
  NatsSharedKv(jsCtx* js, jsCtx* own_js, kvStore* kv, std::string name, std::string describe)
      : js_(js), own_js_(own_js), kv_(kv), name_(std::move(name)), describe_(std::move(describe)) {}
  ~NatsSharedKv() override {
    kvStore_Destroy(kv_);
    if (own_js_ != nullptr) jsCtx_Destroy(own_js_);
  }

  Result<Entry> Get(const std::string& key) override {
    kvEntry* e = nullptr;
    const natsStatus s = kvStore_Get(&e, kv_, key.c_str());
    if (s == NATS_NOT_FOUND) return Status::NotFound(describe_ + ": " + key + ": no value");
    if (s != NATS_OK) return Fail("get " + key, s);
    Entry out{std::string(static_cast<const char*>(kvEntry_Value(e)), static_cast<std::size_t>(kvEntry_ValueLen(e))),
              kvEntry_Revision(e)};
    kvEntry_Destroy(e);
    return out;
  }

  Result<std::uint64_t> Put(const std::string& key, std::string_view value) override {
    std::uint64_t rev = 0;
    const natsStatus s = kvStore_Put(&rev, kv_, key.c_str(), value.data(), static_cast<int>(value.size()));
    if (s != NATS_OK) return Fail("put " + key, s);
    return rev;
  }

  Result<std::uint64_t> Swap(const std::string& key, std::string_view value, std::uint64_t expected) override {
    std::uint64_t rev = 0;
    const natsStatus s =
        expected == 0 ? kvStore_Create(&rev, kv_, key.c_str(), value.data(), static_cast<int>(value.size()))
                      : kvStore_Update(&rev, kv_, key.c_str(), value.data(), static_cast<int>(value.size()), expected);
    if (s == NATS_OK) return rev;
    // nats.c reports a lost race as a plain error: tell it from an engine failure by what the key
    // holds now.
    const std::string why = natsStatus_GetText(s);
    auto now = Get(key);
    const std::uint64_t current = now.ok() ? now->revision : 0;
    if ((now.ok() || now.error().IsNotFound()) && current != expected) {
      return Status::FailedPrecondition(describe_ + ": " + key + ": revision " + std::to_string(expected) +
                                        " is no longer the last");
    }
    return Status::Unavailable(describe_ + ": swap " + key + ": " + why);
  }

  Status Erase(const std::string& key, std::uint64_t expected) override {
    // A delete marker, as kvStore_Delete writes it, but only on top of revision `expected`.
    natsMsg* msg = nullptr;
    const std::string subject = "$KV." + name_ + "." + key;
    natsStatus s = natsMsg_Create(&msg, subject.c_str(), nullptr, nullptr, 0);
    if (s == NATS_OK) s = natsMsgHeader_Set(msg, "KV-Operation", "DEL");
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.ExpectLastSubjectSeq = expected;
    jsErrCode err = static_cast<jsErrCode>(0);
    jsPubAck* ack = nullptr;
    if (s == NATS_OK) s = js_PublishMsg(&ack, js_, msg, &po, &err);
    jsPubAck_Destroy(ack);
    natsMsg_Destroy(msg);
    if (s == NATS_OK) return Status::Ok();
    if (err == JSStreamWrongLastSequenceErr) {
      return Status::FailedPrecondition(describe_ + ": " + key + ": revision " + std::to_string(expected) +
                                        " is no longer the last");
    }
    return Fail("erase " + key, s);
  }

  Result<std::vector<std::string>> Keys() override {
    kvKeysList list;
    std::memset(&list, 0, sizeof list);
    // A deadline: without one nats.c 3.4 may wait forever for the end of the listing (seen under
    // load: the heartbeat thread of the live registry must never hang on it).
    kvWatchOptions opts;
    kvWatchOptions_Init(&opts);
    opts.Timeout = 2000;
    const natsStatus s = kvStore_Keys(&list, kv_, &opts);
    std::vector<std::string> out;
    if (s == NATS_NOT_FOUND) return out;  // No key at all.
    if (s != NATS_OK) return Fail("keys", s);
    for (int i = 0; i < list.Count; ++i) out.emplace_back(list.Keys[i]);
    kvKeysList_Destroy(&list);
    return out;
  }

  Subscription Watch(std::function<void(const Change&)> fn) override {
    kvWatcher* w = nullptr;
    if (kvStore_WatchAll(&w, kv_, nullptr) != NATS_OK) {
      // No watch now (the engine is away): the caller re-reads after its next possible loss.
      return {};
    }
    auto stop = std::make_shared<std::atomic<bool>>(false);
    std::thread reader([w, fn = std::move(fn), stop] {
      while (!stop->load()) {
        kvEntry* e = nullptr;
        const natsStatus s = kvWatcher_Next(&e, w, 250);
        if (s == NATS_TIMEOUT) continue;
        if (s != NATS_OK) {
          if (stop->load()) break;
          // Stopped under us or the connection closed: nothing more will come.
          if (s == NATS_ILLEGAL_STATE || s == NATS_CONNECTION_CLOSED) break;
          continue;
        }
        Change c;
        if (e != nullptr) {
          c.key = kvEntry_Key(e);
          c.revision = kvEntry_Revision(e);
          if (kvEntry_Operation(e) == kvOp_Put) {
            c.value = std::string(static_cast<const char*>(kvEntry_Value(e)),
                                  static_cast<std::size_t>(kvEntry_ValueLen(e)));
          }
          kvEntry_Destroy(e);
        }
        fn(c);  // An empty key: the current values have all been delivered.
      }
    });
    auto shared = std::make_shared<std::thread>(std::move(reader));
    return Subscription([w, stop, shared] {
      stop->store(true);
      kvWatcher_Stop(w);
      if (shared->joinable()) shared->join();
      kvWatcher_Destroy(w);
    });
  }

 private:
  Status Fail(const std::string& what, natsStatus s) const {
    return Status::Unavailable(describe_ + ": " + what + ": " + natsStatus_GetText(s));
  }

  jsCtx* js_;
  jsCtx* own_js_;
  kvStore* kv_;
  const std::string name_;
  const std::string describe_;
};

class NatsBus final : public Bus {
 public:
  NatsBus(natsConnection* conn, std::shared_ptr<Core> core, std::string describe)
      : conn_(conn), core_(std::move(core)), describe_(std::move(describe)) {
    {
      WriterLock lock(&core_->mu);
      core_->conn = conn_;
    }
    // Every node hears the events meant for every node (revocations) from the start.
    everyone_ = Watch(core_->prefix + ".all");
  }

  ~NatsBus() override {
    everyone_.Reset();
    {
      MutexLock lock(&js_mu_);
      if (js_ != nullptr) jsCtx_Destroy(js_);
      js_ = nullptr;
    }
    {
      WriterLock lock(&core_->mu);
      core_->closed = true;
    }
    // Closing ends every subscription; wait for their completion callbacks and for the connection's
    // closed callback (its disconnected callback runs before it, asynchronously: it once ran after the
    // core was freed and corrupted the heap at chatd's exit), after which nats.c calls nothing that
    // points at the core.
    natsConnection_Close(conn_);
    {
      MutexLock lock(&core_->subs_mu);
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while ((core_->live_subs > 0 || !core_->conn_closed) && std::chrono::steady_clock::now() < deadline) {
        core_->subs_done.WaitFor(&core_->subs_mu, 100);
      }
    }
    natsConnection_Destroy(conn_);
  }

  void Publish(std::shared_ptr<const Event> event) override {
    {
      // This node's subscribers first, at once and in publish order (as the in-process bus).
      ReaderLock lock(&core_->mu);
      for (const auto& [id, h] : core_->all) h(event);
      for (const auto& [id, h] : core_->local) h(event);
    }
    core_->recent->Published(event, std::chrono::steady_clock::now());
    Core::Send(conn_, core_->prefix, *event);
  }

  Subscription Subscribe(Handler handler) override { return core_->Add(&Core::all, std::move(handler), core_); }
  Subscription SubscribeLocal(Handler handler) override {
    return core_->Add(&Core::local, std::move(handler), core_);
  }

  bool BetweenNodes() const override { return true; }
  Subscription WatchChat(ChatId chat) override { return Watch(core_->prefix + ".c." + std::to_string(chat)); }
  Subscription WatchUser(UserId user) override { return Watch(core_->prefix + ".u." + std::to_string(user)); }

  Status FlushInterest(int timeout_ms) override {
    const natsStatus s = natsConnection_FlushTimeout(conn_, timeout_ms);
    if (s == NATS_OK) return Status::Ok();
    return Status::Unavailable(describe_ + ": flush: " + natsStatus_GetText(s));
  }

  Subscription OnPossibleLoss(std::function<void()> fn) override {
    std::uint64_t id = 0;
    {
      WriterLock lock(&core_->mu);
      id = core_->next_id++;
      core_->loss.emplace(id, std::move(fn));
    }
    std::weak_ptr<Core> weak = core_;
    return Subscription([weak, id] {
      if (auto c = weak.lock()) {
        WriterLock lock(&c->mu);
        c->loss.erase(id);
      }
    });
  }

  std::string Unready() const override {
    switch (natsConnection_Status(conn_)) {
      case NATS_CONN_STATUS_CONNECTED:
        return "";
      case NATS_CONN_STATUS_RECONNECTING:
        return describe_ + ": reconnecting";
      case NATS_CONN_STATUS_CLOSED:
        return describe_ + ": closed";
      default:
        return describe_ + ": not connected";
    }
  }

  Subscription Serve(const std::string& address, RequestHandler handler) override {
    const std::string subject = core_->prefix + ".r." + address;
    {
      WriterLock lock(&core_->mu);
      core_->served[subject] = std::move(handler);
    }
    Subscription sub = Watch(subject, OnRequest);
    std::weak_ptr<Core> weak = core_;
    return Subscription([weak, subject, sub = std::make_shared<Subscription>(std::move(sub))] {
      sub->Reset();
      if (auto c = weak.lock()) {
        // The writer lock waits for handler calls in progress: none is once this returns.
        WriterLock lock(&c->mu);
        c->served.erase(subject);
      }
    });
  }

  Result<std::string> Request(const std::string& address, const std::string& request, int timeout_ms) override {
    const std::string subject = core_->prefix + ".r." + address;
    natsMsg* reply = nullptr;
    const natsStatus s = natsConnection_Request(&reply, conn_, subject.c_str(), request.data(),
                                                static_cast<int>(request.size()), timeout_ms);
    if (s == NATS_NO_RESPONDERS) return Status::NotFound("no node serves " + address);
    if (s != NATS_OK) return Status::Unavailable(describe_ + ": request to " + address + ": " + natsStatus_GetText(s));
    std::string answer(natsMsg_GetData(reply), static_cast<std::size_t>(natsMsg_GetDataLength(reply)));
    natsMsg_Destroy(reply);
    return answer;
  }

  Result<std::shared_ptr<SharedKv>> OpenSharedKv(const SharedKvOptions& options) override {
    const std::string& n = options.name;
    if (n.empty() || n.size() > 64 || n.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") !=
                                           std::string::npos) {
      return Status::InvalidArgument(describe_ + ": bucket name '" + n + "': letters, digits, - and _ (at most 64)");
    }
    MutexLock lock(&js_mu_);
    // Each bucket request waits at most kv_timeout_ms (nats.c's default, 5 s), or the bucket's own
    // request_timeout_ms, on a JetStream context of the bucket's (nats.c binds a bucket to the
    // context it was opened with). A server that stopped answering keeps its connection open until
    // two pings go unanswered: a bucket on a sign-in's path must not wait that long per request.
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = static_cast<int64_t>(core_->kv_timeout_ms);
    if (js_ == nullptr && natsConnection_JetStream(&js_, conn_, &jo) != NATS_OK) {
      js_ = nullptr;
      return Status::Unavailable(describe_ + ": JetStream context: " + LastError());
    }
    jsCtx* own_js = nullptr;  // The bucket's context, if it has its own timeout.
    if (options.request_timeout_ms > 0 && options.request_timeout_ms != core_->kv_timeout_ms) {
      jo.Wait = options.request_timeout_ms;
      if (natsConnection_JetStream(&own_js, conn_, &jo) != NATS_OK) {
        return Status::Unavailable(describe_ + ": JetStream context: " + LastError());
      }
    }
    jsCtx* js = own_js != nullptr ? own_js : js_;
    const std::string bucket = core_->prefix_token + "_" + n;
    const std::string what = describe_ + " bucket " + bucket;
    kvStore* kv = nullptr;
    natsStatus s = NATS_OK;
    std::string why;  // Why the bucket could not be created.
    // A cluster that just started may still be electing its JetStream leader: tried for 10 s.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
      // Bind to the bucket another node made, else make it (and bind if another node just did).
      s = js_KeyValue(&kv, js, bucket.c_str());
      if (s != NATS_OK) {
        kvConfig cfg;
        kvConfig_Init(&cfg);
        cfg.Bucket = bucket.c_str();
        cfg.History = 1;
        cfg.TTL = options.ttl_ms * 1'000'000;  // nats.c takes nanoseconds here.
        cfg.StorageType = js_MemoryStorage;
        // 3 replicas; a cluster of fewer servers refuses them, and gets one.
        cfg.Replicas = 3;
        s = js_CreateKeyValue(&kv, js, &cfg);
        if (s != NATS_OK) {
          why = LastError();
          s = js_KeyValue(&kv, js, bucket.c_str());
        }
        if (s != NATS_OK) {
          cfg.Replicas = 1;
          s = js_CreateKeyValue(&kv, js, &cfg);
          if (s != NATS_OK) s = js_KeyValue(&kv, js, bucket.c_str());
        }
      }
      if (s == NATS_OK || std::chrono::steady_clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    if (s != NATS_OK) {
      if (own_js != nullptr) jsCtx_Destroy(own_js);
      return Status::Unavailable(what + ": " + natsStatus_GetText(s) + " (" + why +
                                 "; is JetStream enabled on the NATS servers?)");
    }
    return std::shared_ptr<SharedKv>(std::make_shared<NatsSharedKv>(js, own_js, kv, bucket, what));
  }

  // Subscribes the whole bus (the Subscribe handlers, or `on_message`) to `subject` until the
  // Subscription goes.
  Subscription Watch(const std::string& subject, natsMsgHandler on_message = OnMessage) {
    natsSubscription* sub = nullptr;
    {
      MutexLock lock(&core_->subs_mu);
      ++core_->live_subs;
    }
    natsStatus s = natsConnection_Subscribe(&sub, conn_, subject.c_str(), on_message, core_.get());
    if (s == NATS_OK) s = natsSubscription_SetOnCompleteCB(sub, OnSubscriptionComplete, core_.get());
    if (s == NATS_OK) {
      // Far above a burst (nats.c's default is 65,536 messages, 64 MiB); beyond it the client drops
      // and reports a slow consumer, which OnAsyncError turns into a gap check.
      s = natsSubscription_SetPendingLimits(sub, 1 << 16, 64 << 20);
    }
    if (s != NATS_OK) {
      // Closed or broken connection: no subscription, so no completion callback will come. The
      // watcher learns of the loss when the connection is back (OnPossibleLoss) and re-reads.
      if (sub != nullptr) {
        natsSubscription_Unsubscribe(sub);
        natsSubscription_Destroy(sub);
      } else {
        MutexLock lock(&core_->subs_mu);
        --core_->live_subs;
      }
      return {};
    }
    return Subscription([sub] {
      // The handler may run once more, concurrently; it only queues the event, which the router
      // then drops as one it does not watch (or has seen).
      natsSubscription_Unsubscribe(sub);
      natsSubscription_Destroy(sub);
    });
  }

 private:
  natsConnection* conn_;
  std::shared_ptr<Core> core_;
  const std::string describe_;
  Subscription everyone_;
  Mutex js_mu_;
  jsCtx* js_ GUARDED_BY(js_mu_) = nullptr;
};

}  // namespace

Result<std::unique_ptr<Bus>> OpenNatsBus(const Uri& uri) {
  LIBCHAT_RETURN_IF_ERROR(uri.CheckKeys({"prefix", "name", "reconnect_wait_ms", "ping_interval_ms", "kv_timeout_ms"}));
  const std::string describe = Describe(uri);
  auto core = std::make_shared<Core>();
  core->prefix = uri.Get("prefix", "libchat");
  // Bucket names take no '.': the prefix's dots become '_'.
  core->prefix_token = core->prefix;
  for (char& c : core->prefix_token) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') c = '_';
  }
  if (!ValidToken(core->prefix)) {
    return Status::InvalidArgument(describe + ": prefix=" + core->prefix + ": not a NATS subject (no '*', '>', spaces)");
  }
  LIBCHAT_ASSIGN_OR_RETURN(long reconnect_wait, IntOption(uri, "reconnect_wait_ms", 250, 10, 60000));
  LIBCHAT_ASSIGN_OR_RETURN(long ping_interval, IntOption(uri, "ping_interval_ms", 5000, 100, 600000));
  LIBCHAT_ASSIGN_OR_RETURN(core->kv_timeout_ms, IntOption(uri, "kv_timeout_ms", 5000, 100, 60000));
  // As long as a lost connection may go unnoticed (two unanswered pings, below), and some.
  core->recent = std::make_unique<detail::RecentEntries>(std::chrono::milliseconds(2000 + 3 * ping_interval), 65536);

  // nats://[user:password@]h1:4222,h2:4222: each host a server URL, with the credentials if any.
  std::string hosts = uri.host;
  std::string userinfo;
  if (std::size_t at = hosts.rfind('@'); at != std::string::npos) {
    userinfo = hosts.substr(0, at + 1);
    hosts = hosts.substr(at + 1);
  }
  std::vector<std::string> urls;
  for (std::size_t start = 0; start <= hosts.size();) {
    const std::size_t comma = std::min(hosts.find(',', start), hosts.size());
    const std::string one = hosts.substr(start, comma - start);
    if (!one.empty()) urls.push_back("nats://" + userinfo + one);
    start = comma + 1;
  }
  if (urls.empty()) return Status::InvalidArgument("nats://: no server (nats://HOST:PORT[,HOST:PORT...])");
  std::vector<const char*> servers;
  for (const auto& u : urls) servers.push_back(u.c_str());

  natsOptions* opts = nullptr;
  if (natsOptions_Create(&opts) != NATS_OK) return Status::Internal(describe + ": natsOptions_Create");
  natsStatus s = natsOptions_SetServers(opts, servers.data(), static_cast<int>(servers.size()));
  if (s == NATS_OK) s = natsOptions_SetName(opts, uri.Get("name", "chatd").c_str());
  // Our own events are delivered locally by Publish; the server must not send them back.
  if (s == NATS_OK) s = natsOptions_SetNoEcho(opts, true);
  // One delivery thread for every subscription (one per chat would be a thread per chat).
  if (s == NATS_OK) s = natsOptions_UseGlobalMessageDelivery(opts, true);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, reconnect_wait);
  // A server that went silent (no close) counts as lost after two unanswered pings.
  if (s == NATS_OK) s = natsOptions_SetPingInterval(opts, ping_interval);
  if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(opts, 2);
  if (s == NATS_OK) s = natsOptions_SetReconnectedCB(opts, OnReconnected, core.get());
  if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(opts, OnDisconnected, core.get());
  if (s == NATS_OK) s = natsOptions_SetClosedCB(opts, OnClosed, core.get());
  if (s == NATS_OK) s = natsOptions_SetErrorHandler(opts, OnAsyncError, core.get());
  if (s != NATS_OK) {
    natsOptions_Destroy(opts);
    return Status::InvalidArgument(describe + ": " + natsStatus_GetText(s));
  }
  natsConnection* conn = nullptr;
  s = natsConnection_Connect(&conn, opts);
  natsOptions_Destroy(opts);
  if (s != NATS_OK) {
    return Status::Unavailable(describe + ": connect: " + natsStatus_GetText(s) + " (" + LastError() + ")");
  }
  return std::unique_ptr<Bus>(std::make_unique<NatsBus>(conn, std::move(core), describe));
}

void RegisterNatsBus(Registry& registry) { registry.RegisterBus("nats", OpenNatsBus); }

}  // namespace chat

#include "history.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "crashable_engine.h"
#include "kv_store_impl.h"
#include "libchat/libchat.h"
#include "libchat/plugins/leveldb_store.h"

namespace chat::check {

namespace {

using json = nlohmann::json;

// ---------------------------------------------------------------- the world: engine, store, service

class World {
 public:
  explicit World(const HistoryOptions& o) : options_(o) {
    if (o.backend == "postgres") {
      // The database holds the state across restarts; nothing to prepare here.
    } else if (o.backend == "leveldb") {
      dir_ = std::filesystem::temp_directory_path() /
             ("libchat-history-" + std::to_string(o.seed) + "-" + std::to_string(::getpid()));
      std::filesystem::remove_all(dir_);
      std::filesystem::create_directories(dir_);
    } else {
      mem_ = std::shared_ptr<KvEngine>(NewMemKvEngine());
    }
  }
  ~World() {
    Close();
    engine_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // Opens (or reopens) the store and a fresh service over it.
  Status Open() {
    if (options_.backend == "postgres") {
      auto store = Registry::Default().MakeStore(options_.store_uri);
      if (!store.ok()) return store.error();
      store_ = std::move(*store);
      return OpenService();
    }
    if (!engine_) {
      std::unique_ptr<KvEngine> base;
      if (mem_) {
        base = std::make_unique<SharedEngine>(mem_);
      } else {
        auto e = OpenLevelDbEngine(dir_.string());
        if (!e.ok()) return e.error();
        base = std::move(*e);
      }
      engine_ = std::make_shared<CrashableEngine>(std::move(base));
    }
    KvStoreOptions so;
    so.erase_delay_ms = 0;
    so.info_log = [](std::string_view) {};
    auto store = MakeKvStore(std::make_unique<SharedEngine>(engine_), so);
    if (!store.ok()) return store.error();
    store_ = std::move(*store);
    return OpenService();
  }

  Status OpenService() {
    bus_ = NewInProcBus();
    ServiceOptions opts;
    opts.password_cost = PasswordCost::kMinimum;
    opts.enforce_rate_limits = false;
    opts.login_throttle.enabled = false;
    opts.spam.enabled = false;
    auto service = ChatService::Create(opts, store_, bus_);
    if (!service.ok()) return service.error();
    service_ = std::move(*service);
    return Status::Ok();
  }

  // Closes the service and the store. With `crash`, drops what was not synced, as a power cut would
  // (and, on LevelDB, closes the database so that the next Open reads it from disk).
  void Close(bool crash = false) {
    subscription_.Reset();
    service_.reset();
    store_.reset();
    bus_.reset();
    if (crash && engine_) engine_->Crash();
    if (!mem_) engine_.reset();
  }

  ChatService& service() { return *service_; }
  // The LevelDB store's folder; empty for the other backends.
  const std::filesystem::path& dir() const { return dir_; }
  Store& store() { return *store_; }
  Bus& bus() { return *bus_; }
  CrashableEngine* engine() { return engine_.get(); }
  void Subscribe(Bus::Handler h) { subscription_ = bus_->Subscribe(std::move(h)); }

 private:
  const HistoryOptions options_;
  std::filesystem::path dir_;
  std::shared_ptr<KvEngine> mem_;
  std::shared_ptr<CrashableEngine> engine_;
  std::shared_ptr<Store> store_;
  std::shared_ptr<Bus> bus_;
  std::unique_ptr<ChatService> service_;
  Subscription subscription_;
};

// ---------------------------------------------------------------- the recorded history

struct UserModel {
  UserId id = 0;
  std::string name;
  std::vector<std::string> passwords;  // By generation; the last is current.
  bool closed = false;                 // Banned or disabled at some point (sessions then end for good).
};

struct SessionModel {
  std::size_t user = 0;  // Index into users.
  UserId user_id = 0;
  DeviceId device = 0;
  std::string token;
  std::size_t password_gen = 0;  // The password generation its credentials were checked against.
  std::uint64_t revoked_at = 0;  // Tick after which it must not act (0: not revoked).
  std::vector<std::string> old_tokens;  // Replaced by its own password changes.
  std::uint64_t next_client_id = 0;
  std::vector<std::pair<ChatId, std::string>> sent;  // (chat, client id) of its sends, for resends.
  std::set<ChatId> acked;  // Chats it acknowledged in: where it may hold a cursor.
};

struct SentMessage {
  ChatId chat = 0;
  Seq seq = 0;
  std::string id;
  std::string body;
  DeviceId device = 0;
  std::string client_id;
  UserId sender = 0;
  std::uint64_t acked_at = 0;  // Tick after the send returned.
};

// A successful ack in phase `phase`: the device's cursor in `chat` is at least `seq` from tick `at`
// on, until a crash (cursors are written behind, unsynced: a crash may take them back, and the
// client acks again).
struct CursorAck {
  DeviceId device = 0;
  UserId user = 0;
  ChatId chat = 0;
  Seq seq = 0;
  std::uint64_t at = 0;
  int phase = 0;
};

// A backup (Store::Backup) begun at tick `started` in phase `phase`: the engine's content it copied.
struct BackupTaken {
  std::uint64_t started = 0;
  int phase = 0;
  CrashableEngine::Content content;
};

struct DeviceOp {
  std::size_t session = 0;
  std::uint64_t start = 0;
  std::string what;
};

struct RecordedEvent {
  EventType type;
  ChatId chat = 0;
  Seq seq = 0;
  std::vector<UserId> recipients;
};

class History {
 public:
  std::mutex mu;
  std::vector<UserModel> users;
  std::vector<SessionModel> sessions;
  std::vector<ChatId> chats;
  std::map<std::pair<DeviceId, std::string>, SentMessage> sent;  // Acked, by (device, client id).
  std::set<std::pair<ChatId, Seq>> deleted;
  std::vector<DeviceOp> ok_device_ops;  // Device-scoped operations that succeeded.
  std::vector<RecordedEvent> events;
  std::vector<CursorAck> cursor_acks;
  std::vector<BackupTaken> backups;
  std::set<int> crashed_phases;  // Phases that ended in a crash.
  std::set<UserId> all_user_ids;
  std::set<DeviceId> all_device_ids;
  std::set<ChatId> all_chat_ids;
  std::vector<std::string> violations;
  std::uint64_t operations = 0, operations_ok = 0;

  void Violation(std::string what) {
    if (violations.size() < 50) violations.push_back(std::move(what));
  }
};

std::atomic<std::uint64_t> g_tick{0};
std::uint64_t Tick() { return g_tick.fetch_add(1) + 1; }

// ---------------------------------------------------------------- one thread's random operations

class Actor {
 public:
  Actor(World& world, History& h, const HistoryOptions& o, int thread, int phase)
      : world_(world), h_(h), o_(o), thread_(thread), phase_(phase), rng_(o.seed * 1000003 + phase * 7919 + thread) {}

  void Run(int ops) {
    for (int i = 0; i < ops; ++i) {
      const int pick = Uniform(100);
      if (pick < 4) {
        Register();
      } else if (pick < 10) {
        Login();
      } else if (pick < 13) {
        Resume();
      } else if (pick < 15) {
        ChangePassword();
      } else if (pick < 16) {
        BanOrDisable();
      } else if (pick < 21) {
        CreateGroup();
      } else if (pick < 33) {
        Modify();
      } else if (pick < 70) {
        Send();
      } else if (pick < 75) {
        Delete();
      } else if (pick < 85) {
        Ack();
      } else if (pick < 89) {
        Leave();
      } else if (pick < 92) {
        RemoveDevice();
      } else if (pick < 99) {
        Sync();
      } else {
        Backup();
      }
    }
  }

 private:
  int Uniform(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

  // A message's text: who sent it, and a token of 20 letters and digits derived from that, unique to
  // it and incompressible (LevelDB compresses its blocks: a short repetitive text might not appear
  // in the files as it is), which CheckErased looks for. A resend has the same text.
  static std::string Body(DeviceId device, const std::string& client_id) {
    const std::string who = "m-" + std::to_string(device) + "-" + client_id;
    std::uint64_t x = std::hash<std::string>()(who);
    static const char kAlnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    std::string token;
    for (int i = 0; i < 20; ++i) {
      x += 0x9e3779b97f4a7c15ULL;  // splitmix64
      std::uint64_t z = x;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      token.push_back(kAlnum[(z ^ (z >> 31)) % (sizeof(kAlnum) - 1)]);
    }
    return who + "-" + token;
  }

  template <typename T>
  std::optional<std::size_t> Pick(const std::vector<T>& v) {
    if (v.empty()) return std::nullopt;
    return static_cast<std::size_t>(std::uniform_int_distribution<std::size_t>(0, v.size() - 1)(rng_));
  }

  // A session to act as: mostly live ones, sometimes revoked ones (they must fail).
  std::optional<SessionModel> PickSession(std::size_t* index) {
    std::lock_guard lock(h_.mu);
    if (h_.sessions.empty()) return std::nullopt;
    const bool any = Uniform(8) == 0;
    for (int attempt = 0; attempt < 8; ++attempt) {
      auto i = Pick(h_.sessions);
      if (any || h_.sessions[*i].revoked_at == 0 || attempt == 7) {
        *index = *i;
        return h_.sessions[*i];
      }
    }
    return std::nullopt;
  }

  // Mostly a chat the user is in (as far as the store says now), sometimes any chat.
  std::optional<ChatId> PickChatOf(UserId user) {
    if (Uniform(5) != 0) {
      auto mine = world_.store().ListUserChats(user);
      if (mine.ok() && !mine->empty()) {
        return (*mine)[static_cast<std::size_t>(Uniform(static_cast<int>(mine->size())))].chat;
      }
    }
    return PickChat();
  }

  std::optional<ChatId> PickChat() {
    std::lock_guard lock(h_.mu);
    auto i = Pick(h_.chats);
    if (!i) return std::nullopt;
    return h_.chats[*i];
  }

  std::optional<UserId> PickUserId() {
    std::lock_guard lock(h_.mu);
    auto i = Pick(h_.users);
    if (!i) return std::nullopt;
    return h_.users[*i].id;
  }

  void Count(bool ok) {
    std::lock_guard lock(h_.mu);
    ++h_.operations;
    if (ok) ++h_.operations_ok;
  }

  // Records a device-scoped operation that succeeded (checked against revocations at the end).
  void DeviceActed(std::size_t session, std::uint64_t start, const char* what) {
    std::lock_guard lock(h_.mu);
    h_.ok_device_ops.push_back({session, start, what});
  }

  void Register() {
    const std::string name = "u" + std::to_string(thread_) + "x" + std::to_string(next_user_++) + "p" +
                             std::to_string(g_tick.load() % 100000);
    const std::string password = "pw-" + std::to_string(rng_());
    auto u = world_.service().Register({name, password, "", "", ""});
    Count(u.ok());
    if (!u.ok()) return;
    std::lock_guard lock(h_.mu);
    if (!h_.all_user_ids.insert(u->id).second) h_.Violation("user id " + std::to_string(u->id) + " handed out twice");
    h_.users.push_back({u->id, name, {password}, false});
  }

  void Login() {
    std::size_t ui;
    UserModel user;
    {
      std::lock_guard lock(h_.mu);
      auto i = Pick(h_.users);
      if (!i) return;
      ui = *i;
      user = h_.users[ui];
    }
    // Mostly the current password; sometimes an old one (which must not work).
    std::size_t gen = user.passwords.size() - 1;
    if (gen > 0 && Uniform(4) == 0) gen = static_cast<std::size_t>(Uniform(static_cast<int>(gen)));
    auto s = world_.service().Login(user.name, user.passwords[gen], {"phone", "t" + std::to_string(thread_)});
    Count(s.ok());
    if (!s.ok()) return;
    std::lock_guard lock(h_.mu);
    if (!h_.all_device_ids.insert(s->device.id).second) {
      h_.Violation("device id " + std::to_string(s->device.id) + " handed out twice");
    }
    if (s->user.id != user.id) h_.Violation("login as " + user.name + " opened a session of user " + std::to_string(s->user.id));
    SessionModel m;
    m.user = ui;
    m.user_id = user.id;
    m.device = s->device.id;
    m.token = s->token;
    m.password_gen = gen;
    h_.sessions.push_back(std::move(m));
  }

  void Resume() {
    std::size_t si;
    auto s = PickSession(&si);
    if (!s) return;
    // Sometimes a token the session's own password change replaced: it must never resume.
    std::string token = s->token;
    bool old = false;
    if (!s->old_tokens.empty() && Uniform(3) == 0) {
      token = s->old_tokens[static_cast<std::size_t>(Uniform(static_cast<int>(s->old_tokens.size())))];
      old = true;
    }
    const std::uint64_t start = Tick();
    auto r = world_.service().Resume(token);
    Count(r.ok());
    if (!r.ok()) return;
    if (old) {
      std::lock_guard lock(h_.mu);
      h_.Violation("device " + std::to_string(s->device) + " resumed with a token its password change replaced");
    }
    if (r->device.id != s->device) {
      std::lock_guard lock(h_.mu);
      h_.Violation("a token of device " + std::to_string(s->device) + " resumed device " + std::to_string(r->device.id));
    }
    DeviceActed(si, start, "resume");
  }

  void ChangePassword() {
    std::size_t si;
    auto s = PickSession(&si);
    if (!s) return;
    std::string current;
    {
      std::lock_guard lock(h_.mu);
      current = h_.users[s->user].passwords.back();
    }
    const std::string next = "pw-" + std::to_string(rng_());
    const std::uint64_t start = Tick();
    auto r = world_.service().ChangePassword(s->user_id, s->device, current, next);
    const std::uint64_t end = Tick();
    Count(r.ok());
    if (!r.ok()) return;
    DeviceActed(si, start, "changePassword");
    std::lock_guard lock(h_.mu);
    UserModel& u = h_.users[s->user];
    u.passwords.push_back(next);
    const std::size_t gen = u.passwords.size() - 1;
    for (std::size_t i = 0; i < h_.sessions.size(); ++i) {
      SessionModel& other = h_.sessions[i];
      if (other.user_id != s->user_id) continue;
      if (other.device == s->device) {
        // The asking device goes on with the new token; every copy of the old one is dead.
        if (i == si) {
          other.old_tokens.push_back(other.token);
          other.token = r->token;
          other.password_gen = gen;
        } else if (other.revoked_at == 0) {
          other.revoked_at = end;
        }
        continue;
      }
      if (other.revoked_at == 0) other.revoked_at = end;
    }
  }

  void BanOrDisable() {
    auto uid = PickUserId();
    if (!uid) return;
    const int how = Uniform(4);
    Status s;
    if (how == 0) {
      s = world_.service().BanUser(*uid, "history check").status();
    } else if (how == 1) {
      s = world_.service().UnbanUser(*uid);
    } else if (how == 2) {
      s = world_.service().SetDisabled(*uid, true);
    } else {
      s = world_.service().SetDisabled(*uid, false);
    }
    const std::uint64_t end = Tick();
    Count(s.ok());
    if (!s.ok() || how == 1 || how == 3) return;
    // Every session of the account ends for good: a ban keeps the tokens but refuses them; lifting it
    // (or enabling) forgets them.
    std::lock_guard lock(h_.mu);
    for (auto& u : h_.users) {
      if (u.id == *uid) u.closed = true;
    }
    for (auto& other : h_.sessions) {
      if (other.user_id == *uid && other.revoked_at == 0) other.revoked_at = end;
    }
  }

  void CreateGroup() {
    std::size_t si;
    auto s = PickSession(&si);
    if (!s) return;
    std::vector<UserId> members;
    for (int i = Uniform(3); i > 0; --i) {
      if (auto u = PickUserId()) members.push_back(*u);
    }
    auto c = world_.service().CreateGroup(s->user_id, "g", members, "", o_.member_limit);
    Count(c.ok());
    if (!c.ok()) return;
    std::lock_guard lock(h_.mu);
    if (!h_.all_chat_ids.insert(c->id).second) h_.Violation("chat id " + std::to_string(c->id) + " handed out twice");
    h_.chats.push_back(c->id);
  }

  void Modify() {
    std::size_t si;
    auto s = PickSession(&si);
    if (!s) return;
    auto chat = PickChatOf(s->user_id);
    if (!s || !chat) return;
    ParticipantChange change;
    const int how = Uniform(3);
    auto u = PickUserId();
    if (!u) return;
    if (how == 0) {
      change.add.push_back(*u);
      if (Uniform(2) == 0) {
        if (auto v = PickUserId()) change.add.push_back(*v);
      }
    } else if (how == 1) {
      change.remove.push_back(*u);
    } else {
      const Role roles[] = {Role::kMember, Role::kAdmin, Role::kOwner};
      change.set_role.push_back({*u, roles[Uniform(3)]});
      // Two owners in one list: must be refused, never applied.
      if (Uniform(4) == 0) {
        if (auto v = PickUserId()) change.set_role.push_back({*v, Role::kOwner});
      }
    }
    auto r = world_.service().ModifyParticipants(s->user_id, *chat, change);
    Count(r.ok());
  }

  void Leave() {
    std::size_t si;
    auto s = PickSession(&si);
    if (!s) return;
    auto chat = PickChatOf(s->user_id);
    if (!s || !chat) return;
    auto r = world_.service().Leave(s->user_id, *chat);
    Count(r.ok());
    if (r.ok()) CheckCursorsGoneAfterLeave(s->user_id, *chat);
  }

  // Once a leave has returned, none of the user's devices reads a cursor in the chat: a cursor write
  // queued before the leave (an ack in the same commit group) must not outlive it. Conclusive only
  // while the membership stays as the leave left it: the member list is an immutable snapshot, so the
  // same pointer before and after the reads means no change in between (a concurrent re-add would
  // let an ack write a cursor legitimately).
  void CheckCursorsGoneAfterLeave(UserId user, ChatId chat) {
    auto before = world_.store().Members(chat);
    if (!before.ok() || std::count((*before)->begin(), (*before)->end(), user) != 0) return;
    std::vector<DeviceId> devices;
    {
      std::lock_guard lock(h_.mu);
      for (const auto& session : h_.sessions) {
        if (session.user_id == user) devices.push_back(session.device);
      }
    }
    for (DeviceId device : devices) {
      // A removed device's cursor may outlive it until the retention sweep (RemoveDeviceInto: an ack
      // in flight lands after its scan); the leave no longer lists the device. Not a violation.
      if (!world_.store().GetDevice(device).ok()) continue;
      auto cursor = world_.store().DeviceCursor(device, chat);
      if (!cursor.ok() || *cursor == 0) continue;
      auto after = world_.store().Members(chat);
      if (!after.ok() || after->get() != before->get()) return;
      std::lock_guard lock(h_.mu);
      h_.Violation("device " + std::to_string(device) + " still reads cursor " + std::to_string(*cursor) +
                   " of chat " + std::to_string(chat) + " after its user's leave returned");
    }
  }

  void Send() {
    std::size_t si;
    auto s = PickSession(&si);
    if (!s) return;
    SendRequest r;
    r.sender = s->user_id;
    r.device = s->device;
    bool resend = false;
    if (!s->sent.empty() && Uniform(5) == 0) {
      // A retry: same client id, same chat (a duplicate must answer with the original).
      const auto& [chat, client_id] = s->sent[static_cast<std::size_t>(Uniform(static_cast<int>(s->sent.size())))];
      r.chat = chat;
      r.client_id = client_id;
      resend = true;
    } else {
      auto chat = PickChatOf(s->user_id);
      if (!chat) return;
      r.chat = *chat;
      std::lock_guard lock(h_.mu);
      r.client_id = "c" + std::to_string(h_.sessions[si].next_client_id++);
    }
    r.body = Body(r.device, r.client_id);
    if (Uniform(6) == 0) r.reply_to = static_cast<Seq>(Uniform(20));
    const std::uint64_t start = Tick();
    auto a = world_.service().Send(r);
    const std::uint64_t end = Tick();
    Count(a.ok());
    std::lock_guard lock(h_.mu);
    if (!resend) h_.sessions[si].sent.emplace_back(r.chat, r.client_id);
    if (!a.ok()) return;
    const auto key = std::make_pair(r.device, r.client_id);
    auto known = h_.sent.find(key);
    if (a->duplicate) {
      if (known != h_.sent.end() && known->second.id != a->message.id) {
        h_.Violation("resend of " + r.client_id + " by device " + std::to_string(r.device) + " answered another message");
      }
    } else {
      if (known != h_.sent.end()) {
        h_.Violation("client id " + r.client_id + " of device " + std::to_string(r.device) + " stored twice");
      }
      h_.sent[key] = {a->message.chat, a->message.seq, a->message.id, r.body, r.device, r.client_id, r.sender, end};
      h_.ok_device_ops.push_back({si, start, "send"});
    }
  }

  void Delete() {
    std::size_t si;
    auto s = PickSession(&si);
    if (!s || s->sent.empty()) return;
    SentMessage target;
    {
      std::lock_guard lock(h_.mu);
      const auto& [chat, client_id] = s->sent[static_cast<std::size_t>(Uniform(static_cast<int>(s->sent.size())))];
      auto it = h_.sent.find({s->device, client_id});
      if (it == h_.sent.end()) return;
      target = it->second;
    }
    const std::uint64_t start = Tick();
    auto r = world_.service().DeleteMessage(s->user_id, s->device, target.chat, target.seq);
    Count(r.ok());
    if (!r.ok()) return;
    std::lock_guard lock(h_.mu);
    if (!h_.deleted.insert({target.chat, target.seq}).second) {
      h_.Violation("message " + std::to_string(target.seq) + " of chat " + std::to_string(target.chat) + " deleted twice");
    }
    h_.ok_device_ops.push_back({si, start, "delete"});
  }

  void Ack() {
    std::size_t si;
    auto s = PickSession(&si);
    if (!s) return;
    auto chat = PickChatOf(s->user_id);
    if (!s || !chat) return;
    auto head = world_.store().Head(*chat);
    if (!head.ok() || *head == 0) return;
    const std::uint64_t start = Tick();
    const Seq seq = 1 + static_cast<Seq>(Uniform(static_cast<int>(*head)));
    auto r = world_.service().Ack(s->user_id, s->device, *chat, seq);
    const std::uint64_t end = Tick();
    Count(r.ok());
    if (!r.ok()) return;
    DeviceActed(si, start, "ack");
    std::lock_guard lock(h_.mu);
    h_.sessions[si].acked.insert(*chat);
    h_.cursor_acks.push_back({s->device, s->user_id, *chat, seq, end, phase_});
  }

  // A backup while the others write: checked at the end (CheckBackups) for everything acknowledged
  // before it began (a cursor acknowledged just before one was once missing from it: its write was
  // still queued behind).
  void Backup() {
    CrashableEngine* engine = world_.engine();
    if (engine == nullptr) return;  // PostgreSQL: its backups are pg_dump's (tests/postgres).
    const std::uint64_t start = Tick();
    const std::string name = "backup-" + std::to_string(start);
    Status s = world_.store().Backup(name);
    Count(s.ok());
    if (!s.ok()) return;  // Writes failing (a phase ending in a crash): no backup.
    std::lock_guard lock(h_.mu);
    h_.backups.push_back({start, phase_, engine->TakeBackup(name)});
  }

  void RemoveDevice() {
    std::size_t si;
    auto s = PickSession(&si);
    if (!s) return;
    Status r = Uniform(2) == 0 ? world_.service().Logout(s->user_id, s->device)
                               : world_.service().RemoveDevice(s->user_id, s->device);
    const std::uint64_t end = Tick();
    Count(r.ok());
    if (!r.ok()) return;
    std::lock_guard lock(h_.mu);
    for (auto& other : h_.sessions) {
      if (other.device == s->device && other.revoked_at == 0) other.revoked_at = end;
    }
  }

  void Sync() {
    std::size_t si;
    auto s = PickSession(&si);
    if (!s) return;
    auto chat = PickChatOf(s->user_id);
    if (!s || !chat) return;
    const std::uint64_t start = Tick();
    auto r = world_.service().Sync(s->user_id, s->device, *chat, Seq{0}, 50);
    Count(r.ok());
    if (r.ok()) DeviceActed(si, start, "sync");
  }

  World& world_;
  History& h_;
  const HistoryOptions& o_;
  const int thread_;
  const int phase_;
  std::mt19937_64 rng_;
  int next_user_ = 0;
};

// ---------------------------------------------------------------- checking the history

// The members of a chat at each point of its log, replayed from its kMembership entries.
struct MembershipReplay {
  std::map<UserId, Role> members;
  // members[s]: after the entry with seq s (index 0: before any).
  std::vector<std::vector<UserId>> after;
  // Users who left or were removed at some point (their devices' cursors of the chat went with it).
  std::set<UserId> removed_ever;
};

std::vector<UserId> Keys(const std::map<UserId, Role>& m) {
  std::vector<UserId> out;
  for (const auto& [u, r] : m) out.push_back(u);
  return out;
}

bool ParseRole(const std::string& s, Role* r) { return Parse(s, r); }

void CheckChat(Store& store, ChatId chat, std::uint32_t limit, History& h, const std::vector<const SentMessage*>& sent,
               MembershipReplay* replay) {
  const std::string where = "chat " + std::to_string(chat);
  auto c = store.GetChat(chat);
  if (!c.ok()) return h.Violation(where + ": unreadable: " + c.error().ToString());
  auto head = store.Head(chat);
  if (!head.ok()) return h.Violation(where + ": no head");
  std::vector<Message> log;
  for (Seq after = 0;;) {
    auto page = store.ReadMessages(chat, after, 500);
    if (!page.ok()) return h.Violation(where + ": unreadable log");
    if (page->empty()) break;
    after = page->back().seq;
    for (auto& m : *page) log.push_back(std::move(m));
  }
  // Seqs unique and gapless, every one up to the head.
  if (log.size() != *head) {
    h.Violation(where + ": " + std::to_string(log.size()) + " entries for head " + std::to_string(*head));
  }
  std::set<std::pair<DeviceId, std::string>> client_ids;
  replay->after.assign(1, {});
  for (std::size_t i = 0; i < log.size(); ++i) {
    const Message& m = log[i];
    if (m.seq != i + 1) {
      h.Violation(where + ": entry " + std::to_string(i + 1) + " has seq " + std::to_string(m.seq));
      return;
    }
    if (!m.client_id.empty() && m.sender_device != 0 && !client_ids.insert({m.sender_device, m.client_id}).second) {
      h.Violation(where + ": client id " + m.client_id + " of device " + std::to_string(m.sender_device) + " twice");
    }
    if (IsUserContent(m.kind) && !replay->members.count(m.sender)) {
      h.Violation(where + ": entry " + std::to_string(m.seq) + " appended by user " + std::to_string(m.sender) +
                  ", not a member there");
    }
    if (m.kind == MessageKind::kMembership) {
      auto body = json::parse(m.body, nullptr, false);
      const std::string action = body.is_object() ? body.value("action", "") : "";
      auto& mem = replay->members;
      if (action == "created") {
        bool first = true;
        for (const auto& u : body["members"]) {
          mem[u.get<UserId>()] = (first && body.value("kind", "") == "group") ? Role::kOwner : Role::kMember;
          first = false;
        }
      } else if (action == "modified") {
        for (const auto& u : body["added"]) {
          if (mem.count(u.get<UserId>())) h.Violation(where + ": user " + u.dump() + " joined twice");
          mem[u.get<UserId>()] = Role::kMember;
        }
        for (const auto& u : body["removed"]) {
          mem.erase(u.get<UserId>());
          replay->removed_ever.insert(u.get<UserId>());
        }
        for (const auto& r : body["roles"]) {
          Role role;
          if (ParseRole(r["role"].get<std::string>(), &role)) mem[r["userId"].get<UserId>()] = role;
        }
      } else if (action == "left") {
        mem.erase(body["userId"].get<UserId>());
        replay->removed_ever.insert(body["userId"].get<UserId>());
        if (body.contains("newOwner")) mem[body["newOwner"].get<UserId>()] = Role::kOwner;
      }
      if (c->kind == ChatKind::kGroup && !mem.empty()) {
        std::size_t owners = 0;
        for (const auto& [u, r] : mem) owners += r == Role::kOwner ? 1 : 0;
        if (owners != 1) h.Violation(where + ": " + std::to_string(owners) + " owners after entry " + std::to_string(m.seq));
        if (mem.size() > limit) {
          h.Violation(where + ": " + std::to_string(mem.size()) + " members after entry " + std::to_string(m.seq) +
                      ", limit " + std::to_string(limit));
        }
      }
    }
    replay->after.push_back(Keys(replay->members));
  }
  // The replay ends where the store's membership is.
  auto ps = store.ListParticipants(chat);
  if (ps.ok()) {
    std::map<UserId, Role> stored;
    for (const auto& p : *ps) stored[p.user] = p.role;
    if (stored != replay->members) h.Violation(where + ": stored members differ from the log's");
  }
  // Acknowledged messages: each exactly where its ack said, content intact unless deleted.
  for (const SentMessage* one : sent) {
    const SentMessage& sent = *one;
    if (sent.seq == 0 || sent.seq > log.size()) {
      h.Violation(where + ": acknowledged message " + std::to_string(sent.seq) + " is missing");
      continue;
    }
    const Message& m = log[sent.seq - 1];
    if (m.id != sent.id) {
      h.Violation(where + ": seq " + std::to_string(sent.seq) + " holds another message than the one acknowledged");
      continue;
    }
    const bool deleted = h.deleted.count({chat, sent.seq}) != 0;
    if (deleted && (!m.deleted || !m.body.empty())) {
      h.Violation(where + ": deleted message " + std::to_string(sent.seq) + " still has its content");
    }
    if (!deleted && !m.deleted && m.body != sent.body) {
      h.Violation(where + ": message " + std::to_string(sent.seq) + " changed");
    }
  }
}

void CheckEvents(const std::map<ChatId, MembershipReplay>& replays, History& h) {
  std::map<ChatId, Seq> last;
  for (const auto& e : h.events) {
    auto it = replays.find(e.chat);
    if (it == replays.end()) continue;
    const auto& after = it->second.after;
    const std::string where = "chat " + std::to_string(e.chat) + " entry " + std::to_string(e.seq);
    if (e.seq == 0 || e.seq >= after.size()) {
      h.Violation(where + ": event for an entry not in the log");
      continue;
    }
    if (e.seq <= last[e.chat]) h.Violation(where + ": event out of order");
    last[e.chat] = e.seq;
    std::vector<UserId> expected = after[e.seq];
    if (e.type == EventType::kChatUpdate) {
      std::vector<UserId> both;
      std::set_union(after[e.seq - 1].begin(), after[e.seq - 1].end(), expected.begin(), expected.end(),
                     std::back_inserter(both));
      expected = std::move(both);
    }
    if (e.recipients != expected) {
      h.Violation(where + ": delivered to " + std::to_string(e.recipients.size()) + " users, " +
                  std::to_string(expected.size()) + " members there");
    }
  }
}

void CheckSessions(World& world, History& h) {
  // Nothing a revoked device starts afterwards succeeds.
  for (const auto& op : h.ok_device_ops) {
    const SessionModel& s = h.sessions[op.session];
    if (s.revoked_at != 0 && op.start > s.revoked_at) {
      h.Violation("device " + std::to_string(s.device) + " acted (" + op.what + ") after it was revoked");
    }
  }
  for (const auto& s : h.sessions) {
    const UserModel& u = h.users[s.user];
    auto d = world.store().GetDevice(s.device);
    const bool exists = d.ok();
    // A device whose credentials were checked against a password that has since changed does not
    // survive the change (a login that raced it included), unless it made the change itself (its
    // generation then moved with it).
    if (exists && s.password_gen + 1 < u.passwords.size()) {
      h.Violation("device " + std::to_string(s.device) + " logged in with an old password of " + u.name + " still exists");
    }
    for (const auto& t : s.old_tokens) {
      if (world.service().Resume(t).ok()) h.Violation("a replaced token of device " + std::to_string(s.device) + " resumes");
    }
    if (s.revoked_at != 0 && world.service().Resume(s.token).ok()) {
      // A revoked device's token never works again (a ban keeps the token but refuses it).
      h.Violation("the token of revoked device " + std::to_string(s.device) + " resumes");
    }
  }
}

void CheckCursors(World& world, History& h, const std::map<ChatId, MembershipReplay>& replays) {
  // No device keeps a cursor of a chat its user is not in.
  for (const auto& s : h.sessions) {
    // A removed device's cursor written by an ack in flight at its removal is erased by the sweep an
    // hour later (kv_store_retention.cc); only devices still there are checked here.
    if (!world.store().GetDevice(s.device).ok()) continue;
    for (ChatId chat : s.acked) {
      auto replay = replays.find(chat);
      if (replay == replays.end() || replay->second.members.count(s.user_id)) continue;
      auto c = world.store().DeviceCursor(s.device, chat);
      if (c.ok() && *c != 0) {
        h.Violation("device " + std::to_string(s.device) + " keeps a cursor of chat " + std::to_string(chat) +
                    " its user is not in");
      }
    }
  }
}

// Each backup, opened as a store of its own, holds every message and cursor acknowledged before it
// began, except cursors that went legitimately: the device's (revoked at some point), the user's in
// that chat (left or removed at some point), or acknowledged before a crash (unsynced).
void CheckBackups(History& h, const std::map<ChatId, MembershipReplay>& replays) {
  std::set<DeviceId> revoked;
  for (const auto& s : h.sessions) {
    if (s.revoked_at != 0) revoked.insert(s.device);
  }
  for (std::size_t b = 0; b < h.backups.size(); ++b) {
    const BackupTaken& backup = h.backups[b];
    const std::string where = "backup at tick " + std::to_string(backup.started);
    auto engine = NewMemKvEngine();
    KvBatch batch;
    for (const auto& [k, v] : backup.content) batch.Put(k, v);
    if (Status s = engine->Write(batch, false); !s.ok()) return h.Violation(where + ": " + s.ToString());
    KvStoreOptions so;
    so.info_log = [](std::string_view) {};
    auto store = MakeKvStore(std::move(engine), so);
    if (!store.ok()) {
      h.Violation(where + ": does not open: " + store.error().ToString());
      continue;
    }
    for (const auto& [key, sent] : h.sent) {
      if (sent.acked_at >= backup.started) continue;
      auto page = (*store)->ReadMessages(sent.chat, sent.seq - 1, 1);
      if (!page.ok() || page->empty() || page->front().seq != sent.seq || page->front().id != sent.id) {
        h.Violation(where + ": message " + std::to_string(sent.seq) + " of chat " + std::to_string(sent.chat) +
                    ", acknowledged before it, is missing");
      }
    }
    for (const CursorAck& a : h.cursor_acks) {
      if (a.at >= backup.started || revoked.count(a.device)) continue;
      auto crash = h.crashed_phases.lower_bound(a.phase);
      if (crash != h.crashed_phases.end() && *crash < backup.phase) continue;
      auto replay = replays.find(a.chat);
      if (replay == replays.end() || replay->second.removed_ever.count(a.user)) continue;
      auto cursor = (*store)->DeviceCursor(a.device, a.chat);
      if (!cursor.ok() || *cursor < a.seq) {
        h.Violation(where + ": device " + std::to_string(a.device) + "'s cursor of chat " + std::to_string(a.chat) +
                    " is " + (cursor.ok() ? std::to_string(*cursor) : cursor.error().ToString()) +
                    ", acknowledged " + std::to_string(a.seq) + " before it");
      }
    }
  }
}

// LevelDB: after the eraser has run, the text of every acknowledged message that the store holds as
// deleted (its deletion acknowledged, or landed although its answer was lost to a crash) is in no file
// of the store (the token at its end, as bytes); and, so that the look-up cannot pass by seeing
// nothing, the text of messages not deleted is found. A read running beside the eraser's compaction
// once kept the replaced table file, with the text, on disk (leveldb_engine.cc, ReadEpochs).
std::uint64_t CheckErased(World& world, History& h) {
  if (world.dir().empty()) return 0;
  auto* kv = dynamic_cast<detail::KvStore*>(&world.store());
  if (kv == nullptr) return 0;
  if (Status s = kv->TEST_EraseNow(); !s.ok()) {
    h.Violation("the eraser failed: " + s.ToString());
    return 0;
  }
  std::vector<std::pair<std::string, std::string>> files;  // (name, bytes)
  for (const auto& entry : std::filesystem::recursive_directory_iterator(world.dir())) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    files.emplace_back(entry.path().filename().string(),
                       std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()));
  }
  // Where a message's text is, by its token (the body's end): LevelDB compresses its blocks with
  // Snappy, which may fold a few characters of a token into a copy of equal bytes earlier in the
  // block (measured: the last character of a quarter of 950 tokens, beside the entry header that
  // follows every value; within a token, a chance match of 4 characters). So two pieces of 7 are
  // looked for, away from the ends: a text counts as there if either is (a chance match of 7 random
  // characters elsewhere: ~1 in 10^6 per file megabyte).
  const auto found_in = [&files](const std::string& token) -> std::string {
    for (const std::string& piece : {token.substr(2, 7), token.substr(11, 7)}) {
      for (const auto& [name, bytes] : files) {
        if (bytes.find(piece) != std::string::npos) return name;
      }
    }
    return "";
  };
  std::uint64_t checked = 0;
  int seen = 0;
  for (const auto& [key, sent] : h.sent) {
    auto m = world.store().GetMessage(sent.chat, sent.seq);
    if (!m.ok()) continue;  // CheckChat reports what is missing.
    const std::string token = sent.body.substr(sent.body.rfind('-') + 1);
    const std::string where = "chat " + std::to_string(sent.chat) + ": message " + std::to_string(sent.seq);
    if (!m->deleted) {
      if (seen++ < 50 && found_in(token).empty()) {
        h.Violation(where + "'s text is in no file of the store: the erasure check cannot see texts");
      }
      continue;
    }
    ++checked;
    if (const std::string file = found_in(token); !file.empty()) {
      h.Violation(where + " was deleted, but its text is still in " + file + " after the eraser ran");
    }
  }
  return checked;
}

void CheckAll(World& world, const HistoryOptions& o, History& h) {
  std::map<ChatId, std::vector<const SentMessage*>> sent_by_chat;
  for (const auto& [key, sent] : h.sent) sent_by_chat[sent.chat].push_back(&sent);
  std::map<ChatId, MembershipReplay> replays;
  for (ChatId chat : h.chats) CheckChat(world.store(), chat, o.member_limit, h, sent_by_chat[chat], &replays[chat]);
  CheckEvents(replays, h);
  CheckSessions(world, h);
  CheckCursors(world, h, replays);
  CheckBackups(h, replays);
}

}  // namespace

std::string HistoryReport::Summary() const {
  std::ostringstream s;
  s << phases << " phases (" << crashes << " crashes), " << operations << " operations (" << operations_ok
    << " succeeded), " << messages_acked << " messages acknowledged, " << events << " events; "
    << backups << " backups; " << erasures_checked << " deleted texts looked for on disk; " << violations.size()
    << " violations";
  for (const auto& v : violations) s << "\n  " << v;
  return s.str();
}

HistoryReport RunHistoryCheck(const HistoryOptions& o) {
  HistoryReport report;
  History h;
  World world(o);
  std::mt19937_64 rng(o.seed);
  const auto started = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(); };
  for (int phase = 0; o.seconds > 0 ? elapsed() < o.seconds || phase == 0 : phase < o.phases; ++phase) {
    if (Status s = world.Open(); !s.ok()) {
      report.violations.push_back("the store does not open after phase " + std::to_string(phase) + ": " + s.ToString());
      return report;
    }
    world.Subscribe([&h](const std::shared_ptr<const Event>& e) {
      if (!e->message) return;
      if (e->type != EventType::kMessage && e->type != EventType::kChatUpdate &&
          e->type != EventType::kMessageDeleted) {
        return;
      }
      std::lock_guard lock(h.mu);
      h.events.push_back({e->type, e->chat, e->message->seq, e->recipients});
    });
    // Every other phase with faults ends in a crash after writes start failing part-way.
    const bool crash = o.faults && phase % 2 == 1 && world.engine() != nullptr;
    if (crash) world.engine()->FailAfter(static_cast<int>(200 + rng() % 400));
    std::vector<std::thread> threads;
    for (int t = 0; t < o.threads; ++t) {
      threads.emplace_back([&, t] { Actor(world, h, o, t, phase).Run(o.ops_per_thread); });
    }
    for (auto& t : threads) t.join();
    if (crash) {
      ++report.crashes;
      std::lock_guard lock(h.mu);
      h.crashed_phases.insert(phase);
    } else {
      // Before the store closes: opening it again deletes the files LevelDB no longer lists, and
      // with them what a file kept past its erasure would have shown.
      std::lock_guard lock(h.mu);
      report.erasures_checked += CheckErased(world, h);
    }
    world.Close(crash);
    ++report.phases;
  }
  // Reopened: everything acknowledged must be there, from disk.
  if (Status s = world.Open(); !s.ok()) {
    report.violations.push_back("the store does not open at the end: " + s.ToString());
    return report;
  }
  {
    std::lock_guard lock(h.mu);
    CheckAll(world, o, h);
    report.erasures_checked += CheckErased(world, h);
    report.operations = h.operations;
    report.operations_ok = h.operations_ok;
    report.messages_acked = h.sent.size();
    report.events = h.events.size();
    report.backups = static_cast<int>(h.backups.size());
    for (auto& v : h.violations) report.violations.push_back(v);
  }
  world.Close();
  return report;
}

}  // namespace chat::check

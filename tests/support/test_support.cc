#include "test_support.h"

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

namespace chat::test {
namespace {

std::string RandomToken() {
  std::random_device rd;
  return std::to_string(rd()) + std::to_string(rd());
}

// "mem" and "leveldb" are short names for the two backends every build has.
std::string StoreUriOf(const std::string& backend) {
  if (backend == "mem") return "mem://";
  if (backend == "leveldb") return "leveldb://{tmp}";
  return backend;
}

}  // namespace

TempDir::TempDir() {
  auto base = std::filesystem::temp_directory_path();
  for (;;) {
    path_ = base / ("libchat-test-" + RandomToken());
    std::error_code ec;
    if (std::filesystem::create_directory(path_, ec)) break;
  }
  // Private, as chatd wants its data folder (it refuses one that others can read).
  std::error_code ec;
  std::filesystem::permissions(path_, std::filesystem::perms::owner_all, std::filesystem::perm_options::replace, ec);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const std::filesystem::path& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
  out.close();
  REQUIRE(out.good());
}

bool Eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds poll) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= until) return condition();
    std::this_thread::sleep_for(poll);
  }
  return true;
}

SendRequest TextMessage(const Session& s, ChatId chat, const std::string& client_id, const std::string& body) {
  SendRequest r;
  r.sender = s.user.id;
  r.device = s.device.id;
  r.chat = chat;
  r.client_id = client_id;
  r.body = body;
  return r;
}

std::string ExpandUri(const std::string& uri, const std::string& dir) {
  std::string out = uri;
  for (auto [key, value] : {std::pair<std::string, std::string>{"{tmp}", dir}, {"{unique}", RandomToken()}}) {
    for (auto at = out.find(key); at != std::string::npos; at = out.find(key, at + value.size())) {
      out.replace(at, key.size(), value);
    }
  }
  return out;
}

std::unique_ptr<Store> OpenStore(const std::string& backend, const std::string& dir, KvStoreOptions options) {
  const std::string uri = ExpandUri(StoreUriOf(backend), dir);
  INFO("store " << uri);
  const Registry& registry = TestRegistry();
  const auto schemes = registry.KvEngineSchemes();
  auto parsed = Uri::Parse(uri);
  REQUIRE_OK(parsed);
  if (std::find(schemes.begin(), schemes.end(), parsed->scheme) == schemes.end()) {
    // A Store-only backend (a later SQL plugin): it has no KvStoreOptions.
    auto s = registry.MakeStore(uri);
    REQUIRE_OK(s);
    return std::move(*s);
  }
  auto engine = registry.MakeKvEngine(uri);
  REQUIRE_OK(engine);
  auto s = MakeKvStore(std::move(*engine), options);
  REQUIRE_OK(s);
  return std::move(*s);
}

Fixture::Fixture(const std::string& b, KvStoreOptions o) : backend(b), store_options(o) {
  std::string uri = StoreUriOf(backend);
  const auto servers = ServerStoreBackends();
  const bool server = std::find(servers.begin(), servers.end(), backend) != servers.end();
  if (server) {
    ServerStore made = NewServerStore(backend);
    uri = made.uri;
    database = made.database;
  }
  if (server || uri.find("{tmp}") != std::string::npos) dir = std::make_unique<TempDir>();
  if (server) {
    // A server store's attachment bytes in the same database (--blob-store postgres://...), so that
    // the attachment suites (limits, retention, erasure) run on that blob store too.
    auto b = TestRegistry().MakeBlob(uri);
    REQUIRE_OK(b);
    blobs = std::move(*b);
  } else if (dir) {
    auto b = NewFileBlobStore((dir->path() / "blobs").string());
    REQUIRE_OK(b);
    blobs = std::move(*b);
  } else {
    blobs = NewMemBlobStore();
  }
  // The store lives in <dir>/store, beside the blobs.
  store_uri = ExpandUri(uri, dir ? (dir->path() / "store").string() : "");
  Reopen();
}

Fixture::~Fixture() {
  service.reset();
  store.reset();
  blobs.reset();  // Its connections before the database goes.
  if (!database.empty()) ReleaseServerStore(backend, {store_uri, database});
}

bool Fixture::durable() const { return store_uri.rfind("mem:", 0) != 0; }

void Fixture::Reopen() {
  service.reset();
  store.reset();
  bus = NewInProcBus();
  store = OpenStore(store_uri, "", store_options);
  ServiceOptions opts;
  opts.clock = &clock;
  opts.password_cost = PasswordCost::kMinimum;
  // Tests of other features send faster than people do; the limits have their own tests.
  opts.enforce_rate_limits = false;
  auto s = ChatService::Create(opts, store, bus, blobs);
  REQUIRE_OK(s);
  service = std::move(*s);
}

Session Fixture::NewUser(const std::string& name) {
  auto u = service->Register({name, "password-" + name, "", "", ""});
  REQUIRE_OK(u);
  return NewDevice(name);
}

Session Fixture::NewDevice(const std::string& name) {
  auto s = service->Login(name, "password-" + name, {"phone", "test"});
  REQUIRE_OK(s);
  return std::move(*s);
}

}  // namespace chat::test

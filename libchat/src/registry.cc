#include "libchat/registry.h"

#include <set>
#include <utility>

namespace chat {
namespace {

template <typename Map>
std::string KnownSchemes(const Map& m) {
  std::string s;
  for (const auto& [scheme, f] : m) s += (s.empty() ? "" : ", ") + scheme + "://";
  return s;
}

template <typename T, typename Map>
Result<std::unique_ptr<T>> Make(std::mutex& mu, const Map& factories, const std::string& text, const char* what) {
  auto uri = Uri::Parse(text);
  if (!uri.ok()) return uri.error();
  typename Map::mapped_type factory;
  {
    std::lock_guard lock(mu);
    auto it = factories.find(uri->scheme);
    if (it == factories.end()) {
      return Status::NotSupported(std::string("no ") + what + " backend for '" + uri->scheme + "://' (built in: " +
                                  KnownSchemes(factories) + ")");
    }
    factory = it->second;
  }
  auto made = factory(*uri);
  if (!made.ok()) return made.error().WithContext(uri->ToString());
  return std::move(*made);
}

// The one place that reads the KvStore's own query keys. Removes them from `uri`, so that the engine
// factory can reject every key it does not know.
Result<KvStoreOptions> TakeKvStoreOptions(Uri* uri) {
  KvStoreOptions options;
  const std::pair<const char*, bool*> flags[] = {{"sync", &options.sync}, {"group_commit", &options.group_commit}};
  for (const auto& [key, field] : flags) {
    auto it = uri->query.find(key);
    if (it == uri->query.end()) continue;
    if (it->second != "0" && it->second != "1") {
      return Status::InvalidArgument(std::string(key) + "=" + it->second + ": expected 0 or 1");
    }
    *field = it->second == "1";
    uri->query.erase(it);
  }
  return options;
}

}  // namespace

Registry::Registry() {
  RegisterKvEngine("mem", [](const Uri& uri) -> Result<std::unique_ptr<KvEngine>> {
    LIBCHAT_RETURN_IF_ERROR(uri.CheckKeys({}));
    return NewMemKvEngine();
  });
  RegisterBus("inproc", [](const Uri& uri) -> Result<std::unique_ptr<Bus>> {
    LIBCHAT_RETURN_IF_ERROR(uri.CheckKeys({}));
    return NewInProcBus();
  });
  RegisterPush("log", [](const Uri& uri) -> Result<std::unique_ptr<PushSender>> {
    LIBCHAT_RETURN_IF_ERROR(uri.CheckKeys({}));
    return std::unique_ptr<PushSender>(std::make_unique<RecordingPushSender>());
  });
  RegisterBlob("mem", [](const Uri& uri) -> Result<std::unique_ptr<BlobStore>> {
    LIBCHAT_RETURN_IF_ERROR(uri.CheckKeys({}));
    return NewMemBlobStore();
  });
  RegisterBlob("file", [](const Uri& uri) -> Result<std::unique_ptr<BlobStore>> {
    LIBCHAT_RETURN_IF_ERROR(uri.CheckKeys({}));
    if (uri.path.empty()) return Status::InvalidArgument("file:// needs a directory path");
    return NewFileBlobStore(uri.path);
  });
}

void Registry::RegisterStore(const std::string& scheme, StoreFactory f) {
  std::lock_guard lock(mu_);
  stores_[scheme] = std::move(f);
}
void Registry::RegisterKvEngine(const std::string& scheme, KvEngineFactory f) {
  std::lock_guard lock(mu_);
  engines_[scheme] = std::move(f);
}
void Registry::RegisterBus(const std::string& scheme, BusFactory f) {
  std::lock_guard lock(mu_);
  buses_[scheme] = std::move(f);
}
void Registry::RegisterPush(const std::string& scheme, PushFactory f) {
  std::lock_guard lock(mu_);
  pushes_[scheme] = std::move(f);
}
void Registry::RegisterBlob(const std::string& scheme, BlobFactory f) {
  std::lock_guard lock(mu_);
  blobs_[scheme] = std::move(f);
}

void Registry::RegisterSchemaTool(const std::string& scheme, SchemaToolFactory f) {
  std::lock_guard lock(mu_);
  schema_tools_[scheme] = std::move(f);
}

Result<SchemaTool> Registry::MakeSchemaTool(const Uri& uri) const {
  SchemaToolFactory factory;
  {
    std::lock_guard lock(mu_);
    auto it = schema_tools_.find(uri.scheme);
    if (it == schema_tools_.end()) {
      return Status::NotSupported("'" + uri.scheme + "://' stores have no schema tool (key-value engines use migrations)");
    }
    factory = it->second;
  }
  auto made = factory(uri);
  if (!made.ok()) return made.error().WithContext(uri.ToString());
  return std::move(*made);
}

Result<std::unique_ptr<Store>> Registry::MakeStore(const std::string& uri) const {
  LIBCHAT_ASSIGN_OR_RETURN(Uri parsed, Uri::Parse(uri));
  return MakeStore(parsed);
}

Result<std::unique_ptr<Store>> Registry::MakeStore(const Uri& uri) const {
  StoreFactory store_factory;
  KvEngineFactory engine_factory;
  {
    std::lock_guard lock(mu_);
    if (auto it = stores_.find(uri.scheme); it != stores_.end()) {
      store_factory = it->second;
    } else if (auto e = engines_.find(uri.scheme); e != engines_.end()) {
      engine_factory = e->second;
    }
  }
  // Copy the factory out and call it unlocked: opening a store may take long (LevelDB recovery).
  if (store_factory) {
    auto made = store_factory(uri);
    if (!made.ok()) return made.error().WithContext(uri.ToString());
    return std::move(*made);
  }
  if (!engine_factory) {
    std::string known;
    for (const auto& s : StoreSchemes()) known += (known.empty() ? "" : ", ") + s + "://";
    return Status::NotSupported("no store backend for '" + uri.scheme + "://' (built in: " + known + ")");
  }
  Uri engine_uri = uri;
  auto options = TakeKvStoreOptions(&engine_uri);
  if (!options.ok()) return options.error().WithContext(uri.ToString());
  auto engine = engine_factory(engine_uri);
  if (!engine.ok()) return engine.error().WithContext(uri.ToString());
  auto store = MakeKvStore(std::move(*engine), *options);
  if (!store.ok()) return store.error().WithContext(uri.ToString());
  return std::move(*store);
}

Result<std::unique_ptr<KvEngine>> Registry::MakeKvEngine(const std::string& uri) const {
  LIBCHAT_ASSIGN_OR_RETURN(Uri parsed, Uri::Parse(uri));
  return MakeKvEngine(parsed);
}

Result<std::unique_ptr<KvEngine>> Registry::MakeKvEngine(const Uri& uri) const {
  KvEngineFactory factory;
  {
    std::lock_guard lock(mu_);
    auto it = engines_.find(uri.scheme);
    if (it == engines_.end()) {
      return Status::NotSupported("no key-value engine for '" + uri.scheme + "://' (engines built in: " +
                                  KnownSchemes(engines_) + ")");
    }
    factory = it->second;
  }
  Uri engine_uri = uri;
  // Validated so that a typo fails here as it would in MakeStore, then dropped: an engine has no use for them.
  auto options = TakeKvStoreOptions(&engine_uri);
  if (!options.ok()) return options.error().WithContext(uri.ToString());
  auto engine = factory(engine_uri);
  if (!engine.ok()) return engine.error().WithContext(uri.ToString());
  return std::move(*engine);
}

Result<std::unique_ptr<Bus>> Registry::MakeBus(const std::string& uri) const {
  return Make<Bus>(mu_, buses_, uri, "bus");
}
Result<std::unique_ptr<PushSender>> Registry::MakePush(const std::string& uri) const {
  return Make<PushSender>(mu_, pushes_, uri, "push");
}
Result<std::unique_ptr<BlobStore>> Registry::MakeBlob(const std::string& uri) const {
  return Make<BlobStore>(mu_, blobs_, uri, "blob");
}

std::vector<std::string> Registry::StoreSchemes() const {
  std::lock_guard lock(mu_);
  std::set<std::string> schemes;
  for (const auto& [s, f] : stores_) schemes.insert(s);
  for (const auto& [s, f] : engines_) schemes.insert(s);
  return {schemes.begin(), schemes.end()};
}

std::vector<std::string> Registry::KvEngineSchemes() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [s, f] : engines_) out.push_back(s);
  return out;
}

}  // namespace chat

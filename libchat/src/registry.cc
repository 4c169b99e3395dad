#include "libchat/registry.h"

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

}  // namespace

Registry::Registry() {
  RegisterStore("mem", [](const Uri& uri) -> Result<std::unique_ptr<Store>> {
    LIBCHAT_RETURN_IF_ERROR(uri.CheckKeys({}));
    return MakeKvStore(NewMemKvEngine(), KvStoreOptions{});
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

Result<std::unique_ptr<Store>> Registry::MakeStore(const std::string& uri) const {
  return Make<Store>(mu_, stores_, uri, "store");
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
  std::vector<std::string> out;
  for (const auto& [s, f] : stores_) out.push_back(s);
  return out;
}

}  // namespace chat

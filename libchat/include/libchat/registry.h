// Registry: maps a URI scheme to the factory of a backend (after RocksDB's ObjectRegistry). Backends
// register explicitly (RegisterBuiltinPlugins), never through static initialisers, which the linker
// drops from static libraries.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "libchat/blob.h"
#include "libchat/bus.h"
#include "libchat/push.h"
#include "libchat/store.h"
#include "libchat/uri.h"

namespace chat {

class Registry {
 public:
  using StoreFactory = std::function<Result<std::unique_ptr<Store>>(const Uri&)>;
  using BusFactory = std::function<Result<std::unique_ptr<Bus>>(const Uri&)>;
  using PushFactory = std::function<Result<std::unique_ptr<PushSender>>(const Uri&)>;
  using BlobFactory = std::function<Result<std::unique_ptr<BlobStore>>(const Uri&)>;

  // A registry holding the built-in backends (mem://, inproc://, log://, file://) and every plugin
  // this build was configured with. The same instance on every call. Thread-safe.
  // Defined by libchat::plugins: link it to use this (a core-only embedder constructs a Registry).
  static Registry& Default();
  // An empty registry with only the built-in backends (no plugins).
  Registry();

  void RegisterStore(const std::string& scheme, StoreFactory f);
  void RegisterBus(const std::string& scheme, BusFactory f);
  void RegisterPush(const std::string& scheme, PushFactory f);
  void RegisterBlob(const std::string& scheme, BlobFactory f);

  // Create a backend from its URI. NotSupported (listing the known schemes) for an unknown scheme;
  // InvalidArgument for a malformed URI or an unknown query key; the backend's error if it fails to open.
  Result<std::unique_ptr<Store>> MakeStore(const std::string& uri) const;
  Result<std::unique_ptr<Bus>> MakeBus(const std::string& uri) const;
  Result<std::unique_ptr<PushSender>> MakePush(const std::string& uri) const;
  Result<std::unique_ptr<BlobStore>> MakeBlob(const std::string& uri) const;

  std::vector<std::string> StoreSchemes() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, StoreFactory> stores_;
  std::map<std::string, BusFactory> buses_;
  std::map<std::string, PushFactory> pushes_;
  std::map<std::string, BlobFactory> blobs_;
};

// Registers every plugin enabled at build time (generated: builtin_plugins.cc in libchat::plugins).
// Called by Registry::Default() when libchat::plugins is linked.
void RegisterBuiltinPlugins(Registry& registry);

}  // namespace chat

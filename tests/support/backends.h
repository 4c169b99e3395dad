// The backends a contract suite runs against, after RocksDB's env_basic_test: one suite per interface
// (tests/contract/<interface>_contract_test.cc), each TEST_CASE run once per backend (Catch2
// GENERATE). Always the built-in backends; also the URI in the interface's environment variable when
// it is set, so a new plugin runs the whole suite without writing a test:
//
//   LIBCHAT_TEST_STORE_URI=postgres://127.0.0.1/chat_{unique} ctest -L contract
//
// URIs may hold the placeholders of ExpandUri: {tmp} (a fresh directory) and {unique} (a random token,
// e.g. a database or key prefix of its own per test on a shared server).
#pragma once

#include <cstdlib>
#include <string>
#include <vector>

#include "test_support.h"

namespace chat::test {

// `builtin`, then the value of the environment variable `env_var` if it is set and not empty.
inline std::vector<std::string> ContractBackends(const char* env_var, std::vector<std::string> builtin) {
  const char* extra = std::getenv(env_var);
  if (extra != nullptr && *extra != '\0') builtin.emplace_back(extra);
  return builtin;
}

// The backend a Registry::Make* call returned; REQUIREs that it opened, naming `uri` if not.
template <typename T>
std::unique_ptr<T> RequireOpen(Result<std::unique_ptr<T>> made, const std::string& uri) {
  INFO("backend " << uri);
  REQUIRE_OK(made);
  return std::move(*made);
}

// Store (store.h, with ChatService on top): a Fixture backend. "mem" (mem://), "leveldb" (LevelDB in
// the fixture's temp dir), the server backends of the build (ServerStoreBackends(): "postgres", a
// database of its own on the run's throw-away server), then LIBCHAT_TEST_STORE_URI.
inline std::vector<std::string> StoreBackends() {
  std::vector<std::string> builtin = {"mem", "leveldb"};
  for (auto& b : ServerStoreBackends()) builtin.push_back(b);
  return ContractBackends("LIBCHAT_TEST_STORE_URI", builtin);
}
inline std::string StoreBackend() { return GENERATE(Catch::Generators::from_range(StoreBackends())); }

// KvEngine (kv.h): an engine URI for TestRegistry().MakeKvEngine; then LIBCHAT_TEST_KV_URI.
inline std::string KvEngineUri() {
  return GENERATE(Catch::Generators::from_range(ContractBackends("LIBCHAT_TEST_KV_URI", {"mem://", "leveldb://{tmp}/kv"})));
}

// Bus (bus.h): a bus URI for TestRegistry().MakeBus; then LIBCHAT_TEST_BUS_URI.
inline std::string BusUri() {
  return GENERATE(Catch::Generators::from_range(ContractBackends("LIBCHAT_TEST_BUS_URI", {"inproc://"})));
}

// BlobStore (blob.h): a blob store URI for TestRegistry().MakeBlob, or the name of a server backend of
// the build (ServerStoreBackends(): "postgres", a database of its own); then LIBCHAT_TEST_BLOB_URI.
inline std::string BlobUri() {
  std::vector<std::string> builtin = {"mem://", "file://{tmp}/blobs"};
  for (auto& b : ServerStoreBackends()) builtin.push_back(b);
  return GENERATE_COPY(Catch::Generators::from_range(ContractBackends("LIBCHAT_TEST_BLOB_URI", builtin)));
}

// PushSender (push.h): a push URI for TestRegistry().MakePush; then LIBCHAT_TEST_PUSH_URI (a sender
// pointed at a gateway that accepts everything).
inline std::string PushUri() {
  return GENERATE(Catch::Generators::from_range(ContractBackends("LIBCHAT_TEST_PUSH_URI", {"log://"})));
}

}  // namespace chat::test

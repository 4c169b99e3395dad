// The state file: what one run provisioned on a server (users, their session tokens, the groups), so
// that later runs of the same shape resume sessions instead of logging in again. Logging in costs an
// Argon2id hash on the server, on purpose; 10,000 of them would dominate every run.
//
// One JSON file holds several entries, keyed by the run's shape (RunKey). Tokens are credentials: the
// file is written with mode 0600, by write-to-temporary and rename, so a crash never leaves half a file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace chat::loadgen {

struct DeviceIdentity {
  std::uint64_t user = 0;
  std::uint64_t device = 0;
  std::string token;
};

struct StoredRun {
  std::string prefix;    // Usernames are prefix + "_" + client index.
  std::string password;  // Shared by the run's users: they are load-test accounts.
  std::vector<DeviceIdentity> devices;  // Indexed by client.
  std::vector<std::uint64_t> chats;     // Chat id of each group, indexed by group.
};

// "ws://127.0.0.1:8080/ws clients=1000 group-size=100 groups=10".
std::string RunKey(const std::string& url, std::uint32_t clients, std::uint32_t group_size, std::uint32_t groups);

// The entry for `key` in `path`, or nullopt if the file or the entry does not exist. A file that cannot
// be parsed is treated as absent (and reported in *warning), never as an error: it only saves time.
std::optional<StoredRun> LoadRun(const std::string& path, const std::string& key, std::string* warning);

// Stores `run` under `key`, keeping the file's other entries. False with *error on failure.
bool SaveRun(const std::string& path, const std::string& key, const StoredRun& run, std::string* error);

// Removes the entry for `key` (e.g. the server no longer knows its sessions). Best effort.
void ForgetRun(const std::string& path, const std::string& key);

}  // namespace chat::loadgen

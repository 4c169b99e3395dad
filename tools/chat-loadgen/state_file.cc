#include "state_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace chat::loadgen {
namespace {

using Json = nlohmann::json;
constexpr int kFormatVersion = 1;

Json ReadFile(const std::string& path, std::string* warning) {
  std::ifstream in(path);
  if (!in) return Json::object();
  std::stringstream ss;
  ss << in.rdbuf();
  Json j = Json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || j.value("version", 0) != kFormatVersion || !j.contains("runs") || !j["runs"].is_object()) {
    if (warning != nullptr) *warning = "state file " + path + " is not a chat-loadgen state file; ignoring it";
    return Json::object();
  }
  return j;
}

bool WriteFile(const std::string& path, const Json& j, std::string* error) {
  const std::string tmp = path + ".tmp";
  // 0600: the file holds session tokens.
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = "cannot write " + tmp;
    return false;
  }
  const std::string text = j.dump(1) + "\n";
  std::size_t off = 0;
  while (off < text.size()) {
    const ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n <= 0) {
      ::close(fd);
      *error = "cannot write " + tmp;
      return false;
    }
    off += static_cast<std::size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || std::rename(tmp.c_str(), path.c_str()) != 0) {
    *error = "cannot replace " + path;
    return false;
  }
  return true;
}

}  // namespace

std::string RunKey(const std::string& url, std::uint32_t clients, std::uint32_t group_size, std::uint32_t groups) {
  return url + " clients=" + std::to_string(clients) + " group-size=" + std::to_string(group_size) +
         " groups=" + std::to_string(groups);
}

std::optional<StoredRun> LoadRun(const std::string& path, const std::string& key, std::string* warning) {
  if (path.empty()) return std::nullopt;
  const Json file = ReadFile(path, warning);
  if (!file.contains("runs")) return std::nullopt;
  const Json& runs = file["runs"];
  auto it = runs.find(key);
  if (it == runs.end() || !it->is_object()) return std::nullopt;
  const Json& e = *it;
  StoredRun run;
  try {
    run.prefix = e.at("prefix").get<std::string>();
    run.password = e.at("password").get<std::string>();
    for (const Json& d : e.at("devices")) {
      run.devices.push_back(DeviceIdentity{d.at(0).get<std::uint64_t>(), d.at(1).get<std::uint64_t>(),
                                           d.at(2).get<std::string>()});
    }
    run.chats = e.at("chats").get<std::vector<std::uint64_t>>();
  } catch (const Json::exception&) {
    if (warning != nullptr) *warning = "state file " + path + ": entry '" + key + "' is malformed; ignoring it";
    return std::nullopt;
  }
  return run;
}

bool SaveRun(const std::string& path, const std::string& key, const StoredRun& run, std::string* error) {
  if (path.empty()) return true;
  Json file = ReadFile(path, nullptr);
  file["version"] = kFormatVersion;
  if (!file.contains("runs")) file["runs"] = Json::object();
  // Devices as [user, device, token] triples: 10,000 of them stay a few hundred KiB.
  Json devices = Json::array();
  for (const DeviceIdentity& d : run.devices) devices.push_back(Json::array({d.user, d.device, d.token}));
  file["runs"][key] = Json{{"prefix", run.prefix}, {"password", run.password}, {"devices", std::move(devices)},
                           {"chats", run.chats}};
  return WriteFile(path, file, error);
}

void ForgetRun(const std::string& path, const std::string& key) {
  if (path.empty()) return;
  Json file = ReadFile(path, nullptr);
  if (!file.contains("runs") || !file["runs"].contains(key)) return;
  file["runs"].erase(key);
  std::string ignored;
  WriteFile(path, file, &ignored);
}

}  // namespace chat::loadgen

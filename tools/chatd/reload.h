// SIGHUP: chatd reads its configuration again (command line, environment and --config file, as at
// start) and applies what can change while it serves, without dropping a connection: the TLS
// certificate and key (files re-read even when their paths are the same: a renewal replaces them),
// the log level and the admin token (its file re-read). Every change is logged; a new configuration
// that does not load, or a certificate or token that is refused, changes nothing and says why. Other
// options that differ are named in a warning: they need a restart.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "config.h"

namespace chat::chatd {

class Reloader {
 public:
  using Log = std::function<void(LogLevel, const std::string&)>;
  // `args`: chatd's command line (without the program name), parsed again on each reload.
  // `running`: the configuration chatd started with. `admin` may be null (no admin API). The level
  // `log_level` is the one main()'s own lines honour.
  Reloader(std::vector<std::string> args, Loaded running, Server& server, AdminServer* admin,
           std::atomic<LogLevel>& log_level, Log log);

  // Reloads. `environment`: "NAME=value" strings, as LoadConfig takes them.
  void OnHangup(const std::vector<std::string>& environment);

 private:
  void ReloadTls(const Settings& next);
  void ReloadAdminToken(const Settings& next);
  // The value of option `name` in `loaded`, as --print-config shows it.
  static std::vector<std::string> ValueOf(const Loaded& loaded, const std::string& name);

  const std::vector<std::string> args_;
  Loaded running_;
  Server& server_;
  AdminServer* admin_;
  std::atomic<LogLevel>& log_level_;
  Log log_;
};

}  // namespace chat::chatd

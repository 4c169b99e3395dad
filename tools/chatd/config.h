// chatd's configuration: every option, from the command line, the environment (CHATD_*) and the
// --config file, checked whole before anything is opened or bound (docs/operations.md, "Options").
//
// Precedence: command line, then environment, then file, then the documented default. Each value
// remembers where it came from (chatd --print-config shows it). Mistakes in the configuration itself
// (an unknown option or variable, a stray argument, a malformed or out-of-range value, options that
// contradict each other) are usage errors; what the configuration names but cannot be used (an
// unreadable token or certificate, a taken port, a data folder open to others) is found by
// CheckResources before the store is opened.
#pragma once

#include <string>
#include <vector>

#include "libchat/admin.h"
#include "libchat/libchat.h"
#include "libchat/server/server.h"

namespace chat::chatd {

// Everything chatd runs with, typed and checked.
struct Settings {
  ServerOptions server;
  ServiceOptions service;
  LogFormat log_format = LogFormat::kText;
  // Storage.
  std::string data_dir;
  std::string store_uri;  // Empty: leveldb://<absolute data dir>/store.
  std::string blob_uri;   // Empty: file://<absolute data dir>/blobs.
  std::string bus_uri;
  std::string node_id;  // --node-id; after Convert, never empty (default HOST:PORT).
  bool strict_permissions = true;
  unsigned retention_interval_s = 600;
  // The admin API: served only with a token file.
  std::string admin_listen;
  std::string admin_token_file;
  AdminOptions admin;  // address and port; the token once CheckResources has read it.
  // Pushes and calls.
  std::vector<std::string> push;
  std::string turn_secret_file;
  // The web app: "" with web_on means the default folder (DefaultWebRoot in main.cc).
  bool web_on = true;
  std::string web_root;
};

// One option's effective value, for --print-config.
struct EffectiveValue {
  std::string name;    // "workers"
  std::vector<std::string> values;  // Several for repeatable options; secrets redacted.
  std::string source;  // "default", "command line", "environment CHATD_WORKERS", "file /etc/chatd/chatd.conf"
};

struct Loaded {
  Settings settings;
  std::vector<EffectiveValue> effective;
  std::string config_file;  // As given; empty if none.
  bool help = false;
  bool version = false;
  bool check_config = false;
  bool print_config = false;
  std::string help_text;  // The option table, for --help.
};

// Parses `args` (argv without the program name) and `environment` ("NAME=value" strings; only
// CHATD_* are read) and the config file they name, and checks every value. InvalidArgument with the
// one line to print for any usage error. Reads nothing but the config file.
Result<Loaded> LoadConfig(const std::vector<std::string>& args, const std::vector<std::string>& environment);

// Checks what the settings name, without creating, opening or binding anything that stays: the
// admin token file (read into settings->admin.token, and checked as AdminServer would), the TLS
// certificate and key, the TURN secret file, the web root, the data folder's permissions (when it
// exists), and that the listen addresses are free to bind. Unavailable/InvalidArgument/
// FailedPrecondition with the line to log; warnings (e.g. a data folder open to others under
// --data-permissions warn) go to `warn`.
Status CheckResources(Settings* settings, const std::function<void(const std::string&)>& warn);

// chatd --print-config: "name = value  # source", one line per value, in --help's order; a file of
// this text is a valid config file.
std::string FormatEffective(const Loaded& loaded);

}  // namespace chat::chatd

#include "reload.h"

#include <fstream>

namespace chat::chatd {
namespace {

// Options Reloader applies; any other that changed needs a restart.
bool Reloadable(const std::string& name) {
  return name == "log-level" || name == "tls-cert" || name == "tls-key" || name == "admin-token-file";
}

}  // namespace

Reloader::Reloader(std::vector<std::string> args, Loaded running, Server& server, AdminServer* admin,
                   std::atomic<LogLevel>& log_level, Log log)
    : args_(std::move(args)),
      running_(std::move(running)),
      server_(server),
      admin_(admin),
      log_level_(log_level),
      log_(std::move(log)) {}

std::vector<std::string> Reloader::ValueOf(const Loaded& loaded, const std::string& name) {
  for (const EffectiveValue& e : loaded.effective) {
    if (e.name == name) return e.values;
  }
  return {};
}

void Reloader::OnHangup(const std::vector<std::string>& environment) {
  log_(LogLevel::kInfo, "received SIGHUP; reloading the configuration");
  auto fresh = LoadConfig(args_, environment);
  if (!fresh.ok()) {
    log_(LogLevel::kError, "SIGHUP: the configuration does not load; nothing changed: " + fresh.error().message());
    return;
  }
  const Settings& next = fresh->settings;
  // Restart-only changes first, so that the operator reads them next to what was applied.
  for (const EffectiveValue& e : fresh->effective) {
    if (Reloadable(e.name)) continue;
    if (ValueOf(running_, e.name) != e.values) {
      log_(LogLevel::kWarning, "SIGHUP: --" + e.name + " changed in the configuration; it takes effect at the next "
                               "restart (SIGHUP reloads the TLS certificate and key, the log level and the admin "
                               "token only)");
    }
  }
  const LogLevel level = next.server.log_level;
  if (level != log_level_.load()) {
    log_(LogLevel::kInfo, "SIGHUP: log level " + std::string(ToString(log_level_.load())) + " -> " +
                              std::string(ToString(level)));
    log_level_.store(level);
    server_.SetLogLevel(level);
  }
  ReloadTls(next);
  ReloadAdminToken(next);
  // What was applied becomes the running configuration; what needs a restart stays as it was, so
  // that every later SIGHUP still names it.
  for (EffectiveValue& e : running_.effective) {
    if (!Reloadable(e.name)) continue;
    for (const EffectiveValue& f : fresh->effective) {
      if (f.name == e.name) e = f;
    }
  }
  running_.settings.server.log_level = level;
  log_(LogLevel::kInfo, "SIGHUP: reload done");
}

void Reloader::ReloadTls(const Settings& next) {
  const TlsOptions& was = running_.settings.server.tls;
  const TlsOptions& now = next.server.tls;
  if (!was.enabled() && !now.enabled()) return;
  if (was.enabled() != now.enabled()) {
    log_(LogLevel::kWarning, std::string("SIGHUP: TLS cannot be turned ") + (now.enabled() ? "on" : "off") +
                                 " while serving; restart chatd for that. The current certificate stays.");
    return;
  }
  auto reloaded = server_.ReloadTls(now);
  if (!reloaded.ok()) {
    log_(LogLevel::kError, "SIGHUP: TLS certificate not reloaded, the current one stays: " + reloaded.error().message());
    return;
  }
  running_.settings.server.tls = now;
  log_(LogLevel::kInfo, "SIGHUP: TLS certificate reloaded from " + now.cert_file + ": " + *reloaded +
                            "; new connections use it, open ones keep theirs");
}

void Reloader::ReloadAdminToken(const Settings& next) {
  if (admin_ == nullptr) {
    if (!next.admin_token_file.empty()) {
      log_(LogLevel::kWarning, "SIGHUP: --admin-token-file is set, but chatd started without an admin API; restart "
                               "chatd to serve it");
    }
    return;
  }
  if (next.admin_token_file.empty()) {
    log_(LogLevel::kWarning, "SIGHUP: --admin-token-file was removed; the admin API stays up with its current token "
                             "until chatd restarts");
    return;
  }
  std::ifstream in(next.admin_token_file);
  std::string token;
  if (!in || !std::getline(in, token)) {
    log_(LogLevel::kError, "SIGHUP: cannot read the admin token from " + next.admin_token_file +
                               "; the current token stays");
    return;
  }
  if (!token.empty() && token.back() == '\r') token.pop_back();
  if (Status set = admin_->SetToken(std::move(token)); !set.ok()) {
    log_(LogLevel::kError, "SIGHUP: admin token in " + next.admin_token_file + " refused, the current one stays: " +
                               set.message());
    return;
  }
  log_(LogLevel::kInfo, "SIGHUP: admin token re-read from " + next.admin_token_file);
}

}  // namespace chat::chatd

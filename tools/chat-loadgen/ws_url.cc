#include "ws_url.h"

#include <charconv>

namespace chat::loadgen {

std::string WsUrl::HostHeader() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string WsUrl::ToString() const { return "ws://" + HostHeader() + path; }

std::optional<WsUrl> ParseWsUrl(const std::string& text, std::string* error) {
  constexpr std::string_view kScheme = "ws://";
  if (text.rfind("wss://", 0) == 0) {
    *error = "wss:// is not supported; point --url at the server's plain ws:// port";
    return std::nullopt;
  }
  if (text.rfind(kScheme, 0) != 0) {
    *error = "--url must start with ws://, got '" + text + "'";
    return std::nullopt;
  }
  std::string rest = text.substr(kScheme.size());
  WsUrl url;
  const auto slash = rest.find('/');
  url.path = slash == std::string::npos ? "/" : rest.substr(slash);
  std::string authority = rest.substr(0, slash);
  std::string port;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string::npos) {
      *error = "--url: unterminated IPv6 address in '" + text + "'";
      return std::nullopt;
    }
    url.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') {
        *error = "--url: expected ':PORT' after the IPv6 address in '" + text + "'";
        return std::nullopt;
      }
      port = authority.substr(close + 2);
    }
  } else {
    const auto colon = authority.rfind(':');
    url.host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  if (url.host.empty()) {
    *error = "--url: no host in '" + text + "'";
    return std::nullopt;
  }
  if (!port.empty()) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
      *error = "--url: bad port '" + port + "'";
      return std::nullopt;
    }
    url.port = static_cast<std::uint16_t>(value);
  }
  return url;
}

bool IsLoopbackHost(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

}  // namespace chat::loadgen

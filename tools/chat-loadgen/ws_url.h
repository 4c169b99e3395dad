// The target of a run: a ws:// URL, and the /metrics URL of the same server derived from it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace chat::loadgen {

struct WsUrl {
  std::string host;   // As written (a name or a numeric address; IPv6 without brackets).
  std::uint16_t port = 80;
  std::string path;   // Starts with '/'.

  // "host:port" for the HTTP Host header (IPv6 in brackets).
  std::string HostHeader() const;
  // ws://host:port/path, normalised.
  std::string ToString() const;
};

// Parses "ws://HOST[:PORT][/PATH]". wss:// is refused (chat-loadgen speaks plain WebSocket; put it
// next to the server, behind the TLS terminator). nullopt with *error set on failure.
std::optional<WsUrl> ParseWsUrl(const std::string& text, std::string* error);

// True for 127.0.0.0/8, ::1 and "localhost".
bool IsLoopbackHost(const std::string& host);

}  // namespace chat::loadgen

// The client's address behind a reverse proxy (ServerOptions::trusted_proxies, chatd
// --trusted-proxy; docs/operations.md, "Behind a reverse proxy"; docs/security.md).
//
// A TLS-terminating proxy connects to chatd itself: every connection then comes from the proxy's
// address, and every per-address limit (connections per address, the login throttle, registrations)
// would hold all clients back together. A proxy says who its client is in X-Forwarded-For, which it
// appends to. Anyone can send that header, so it is believed only on a connection whose peer is a
// trusted proxy, and only as far as the chain is made of trusted proxies: the header is read from the
// right, skipping trusted hops, and the first address that is not a trusted proxy is the client.
//
// Everything here is pure and thread-safe, except AdoptForwardedClient, which changes the caller's
// connection state (on its lane).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "address_slots.h"
#include "libchat/result.h"

namespace chat::detail {

// A set of networks (CIDR blocks), IPv4 and IPv6.
class TrustedProxies {
 public:
  TrustedProxies() = default;
  // "10.0.0.0/8", "192.0.2.7" (one address), "fd00::/8", "::1". InvalidArgument naming the first
  // entry that is not an address or a network of one (host bits set, as in "10.0.0.1/8", are refused:
  // the operator meant something else).
  static Result<TrustedProxies> Parse(const std::vector<std::string>& cidrs);

  bool empty() const { return networks_.empty(); }
  // True if `ip` (numeric; an IPv4-mapped IPv6 address counts as its IPv4 form) is in one of the
  // networks. False for anything that is not a numeric address.
  bool Contains(std::string_view ip) const;

 private:
  struct Network {
    bool v6 = false;
    std::array<unsigned char, 16> bytes{};
    unsigned prefix = 0;
  };
  std::vector<Network> networks_;
};

// The client of a request that came from `peer_ip` carrying `forwarded_for` (the X-Forwarded-For
// values, several headers joined with ','): `peer_ip` itself unless it is a trusted proxy. Then the
// entries are read from the right: trusted proxies are skipped, and the first entry that is not one
// is the client. An entry that is not an IP address (garbage, "unknown", an obfuscated name) stops
// the walk: the last trusted hop is then the client, since nothing before it can be believed.
// Addresses come back canonical (inet_ntop), IPv4-mapped ones as IPv4; "[v6]" and "v4:port" forms
// are accepted.
std::string ForwardedClient(const TrustedProxies& proxies, std::string_view peer_ip, std::string_view forwarded_for);

// ---- Hooks for the listener and the HTTP session (ServerState::proxies) ----

// For the listener: true if the connection's peer (`peer_ip`, numeric) is a trusted proxy. Its
// connections are not counted against the proxy's own address at accept; each request is counted
// under its client's address instead (AdoptForwardedClient).
bool FromTrustedProxy(const TrustedProxies& proxies, std::string_view peer_ip);

// For the HTTP session, on each request of a connection from a trusted proxy (`peer_ip`), whose
// X-Forwarded-For values are `forwarded_for` (several headers joined with ','): sets `*remote` to
// the request's client (as Caller::remote and the logs show it) and moves `*slot` to the client's
// address's connection count. False, changing nothing, if that address already has
// `slots.limit` connections open: the caller refuses the request.
bool AdoptForwardedClient(const TrustedProxies& proxies, AddressSlots& slots, std::string_view peer_ip,
                          std::string_view forwarded_for, std::string* remote, AddressSlot* slot);

}  // namespace chat::detail

#include "client_address.h"

#include <arpa/inet.h>

#include <cstring>

#include "address_key.h"

namespace chat::detail {
namespace {

// Parses a numeric address into 16 bytes (IPv4 in the first 4). IPv4-mapped IPv6 becomes IPv4.
bool ParseIp(std::string_view text, bool* v6, std::array<unsigned char, 16>* bytes) {
  if (text.empty() || text.size() > INET6_ADDRSTRLEN) return false;
  const std::string s(text);
  bytes->fill(0);
  in_addr a4{};
  if (inet_pton(AF_INET, s.c_str(), &a4) == 1) {
    *v6 = false;
    std::memcpy(bytes->data(), &a4, 4);
    return true;
  }
  in6_addr a6{};
  if (inet_pton(AF_INET6, s.c_str(), &a6) != 1) return false;
  static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(a6.s6_addr, kMapped, sizeof kMapped) == 0) {
    *v6 = false;
    std::memcpy(bytes->data(), a6.s6_addr + 12, 4);
    return true;
  }
  *v6 = true;
  std::memcpy(bytes->data(), a6.s6_addr, 16);
  return true;
}

std::string Canonical(bool v6, const std::array<unsigned char, 16>& bytes) {
  char out[INET6_ADDRSTRLEN];
  if (inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), out, sizeof out) == nullptr) return "?";
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// One X-Forwarded-For entry as an address: "192.0.2.1", "192.0.2.1:1234", "2001:db8::1",
// "[2001:db8::1]", "[2001:db8::1]:1234". False for anything else.
bool ParseEntry(std::string_view entry, bool* v6, std::array<unsigned char, 16>* bytes) {
  entry = Trim(entry);
  if (!entry.empty() && entry.front() == '[') {
    const auto close = entry.find(']');
    if (close == std::string_view::npos) return false;
    const std::string_view rest = entry.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return false;
    return ParseIp(entry.substr(1, close - 1), v6, bytes) && *v6;
  }
  if (ParseIp(entry, v6, bytes)) return true;
  // IPv4 with a port: exactly one colon.
  const auto colon = entry.find(':');
  if (colon == std::string_view::npos || entry.find(':', colon + 1) != std::string_view::npos) return false;
  return ParseIp(entry.substr(0, colon), v6, bytes) && !*v6;
}

}  // namespace

Result<TrustedProxies> TrustedProxies::Parse(const std::vector<std::string>& cidrs) {
  TrustedProxies out;
  for (const std::string& cidr : cidrs) {
    Network n;
    const auto slash = cidr.find('/');
    if (!ParseIp(std::string_view(cidr).substr(0, slash), &n.v6, &n.bytes)) {
      return Status::InvalidArgument("trusted proxy '" + cidr + "' is not an IP address or network (CIDR)");
    }
    const unsigned max = n.v6 ? 128 : 32;
    n.prefix = max;
    if (slash != std::string::npos) {
      const std::string bits = cidr.substr(slash + 1);
      if (bits.empty() || bits.size() > 3 || bits.find_first_not_of("0123456789") != std::string::npos ||
          std::stoul(bits) > max) {
        return Status::InvalidArgument("trusted proxy '" + cidr + "': the prefix length must be 0 to " +
                                       std::to_string(max));
      }
      n.prefix = static_cast<unsigned>(std::stoul(bits));
    }
    for (unsigned bit = n.prefix; bit < max; ++bit) {
      if ((n.bytes[bit / 8] >> (7 - bit % 8)) & 1) {
        return Status::InvalidArgument("trusted proxy '" + cidr + "' has bits set past its prefix length (" +
                                       "did you mean " + Canonical(n.v6, [&] {
                                         auto b = n.bytes;
                                         for (unsigned i = n.prefix; i < max; ++i) b[i / 8] &= ~(1u << (7 - i % 8));
                                         return b;
                                       }()) + "/" + std::to_string(n.prefix) + "?)");
      }
    }
    out.networks_.push_back(n);
  }
  return out;
}

bool TrustedProxies::Contains(std::string_view ip) const {
  if (networks_.empty()) return false;
  bool v6 = false;
  std::array<unsigned char, 16> bytes{};
  if (!ParseIp(ip, &v6, &bytes)) return false;
  for (const Network& n : networks_) {
    if (n.v6 != v6) continue;
    unsigned bit = 0;
    for (; bit + 8 <= n.prefix; bit += 8) {
      if (bytes[bit / 8] != n.bytes[bit / 8]) break;
    }
    if (bit + 8 <= n.prefix) continue;
    const unsigned rest = n.prefix - bit;
    if (rest == 0) return true;
    const unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
    if ((bytes[bit / 8] & mask) == (n.bytes[bit / 8] & mask)) return true;
  }
  return false;
}

std::string ForwardedClient(const TrustedProxies& proxies, std::string_view peer_ip, std::string_view forwarded_for) {
  bool v6 = false;
  std::array<unsigned char, 16> bytes{};
  std::string client = ParseIp(peer_ip, &v6, &bytes) ? Canonical(v6, bytes) : std::string(peer_ip);
  if (!proxies.Contains(client)) return client;
  // From the right: the entry the trusted proxy appended itself comes last.
  std::string_view rest = forwarded_for;
  while (!Trim(rest).empty()) {
    const auto comma = rest.rfind(',');
    const std::string_view entry = comma == std::string_view::npos ? rest : rest.substr(comma + 1);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
    if (Trim(entry).empty()) continue;
    if (!ParseEntry(entry, &v6, &bytes)) return client;  // Unbelievable beyond here.
    client = Canonical(v6, bytes);
    if (!proxies.Contains(client)) return client;
  }
  return client;
}

bool FromTrustedProxy(const TrustedProxies& proxies, std::string_view peer_ip) {
  return !proxies.empty() && proxies.Contains(peer_ip);
}

bool AdoptForwardedClient(const TrustedProxies& proxies, AddressSlots& slots, std::string_view peer,
                          std::string_view forwarded, std::string* remote, AddressSlot* slot) {
  const std::string client = ForwardedClient(proxies, peer, forwarded);
  // The connection's count moves to the request's client: release first, so that a connection
  // carrying one client's requests never counts twice against it.
  slot->reset();
  AddressSlot next = slots.TryAcquire(AddressKey(client));
  if (next == nullptr) return false;
  *slot = std::move(next);
  *remote = client;
  return true;
}

}  // namespace chat::detail

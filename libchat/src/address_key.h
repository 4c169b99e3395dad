// The key per-address limits count a client under (connections per address, the login throttle,
// registration limits; docs/security.md).
//
// An IPv4 client is one address. An IPv6 client is its /64: a home or a cloud host is given a whole
// /64 and may pick any of its 2^64 addresses per connection, so counting full IPv6 addresses would let
// one host have as many fresh limits as it likes. Pure function; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace chat::detail {

// "203.0.113.7" -> "203.0.113.7"; "2001:db8:1:2:a:b:c:d" -> "2001:db8:1:2::/64"; an IPv4-mapped
// IPv6 address ("::ffff:203.0.113.7") -> its IPv4 form. Text that is not a numeric IP address (e.g.
// "?" for an unknown peer, or a zone-scoped link-local address) is returned as is.
std::string AddressKey(std::string_view ip);

}  // namespace chat::detail

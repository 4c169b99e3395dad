// AddressKey (libchat/src/address_key.h): what per-address limits count a client under.
#include "address_key.h"

#include "test_support.h"

namespace chat::detail {

TEST_CASE("an IPv4 address is its own key") {
  CHECK(AddressKey("203.0.113.7") == "203.0.113.7");
  CHECK(AddressKey("127.0.0.1") == "127.0.0.1");
}

TEST_CASE("every address of one IPv6 /64 shares a key") {
  const std::string a = AddressKey("2001:db8:1:2:a:b:c:d");
  CHECK(a == "2001:db8:1:2::/64");
  CHECK(AddressKey("2001:db8:1:2::1") == a);
  CHECK(AddressKey("2001:0db8:0001:0002:ffff:ffff:ffff:ffff") == a);
  CHECK(AddressKey("2001:db8:1:3::1") != a);
  CHECK(AddressKey("::1") == "::/64");
}

TEST_CASE("an IPv4-mapped IPv6 address counts as the IPv4 address") {
  CHECK(AddressKey("::ffff:203.0.113.7") == "203.0.113.7");
}

TEST_CASE("text that is not a numeric address is kept as it is") {
  CHECK(AddressKey("?") == "?");
  CHECK(AddressKey("") == "");
  CHECK(AddressKey("fe80::1%eth0") == "fe80::1%eth0");
}

}  // namespace chat::detail

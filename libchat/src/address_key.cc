#include "address_key.h"

#include <arpa/inet.h>

#include <cstring>

namespace chat::detail {

std::string AddressKey(std::string_view ip) {
  const std::string text(ip);
  in6_addr v6{};
  if (text.find(':') == std::string::npos || inet_pton(AF_INET6, text.c_str(), &v6) != 1) return text;
  const unsigned char* b = v6.s6_addr;
  static constexpr unsigned char kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(b, kMappedPrefix, sizeof kMappedPrefix) == 0) {
    char v4[INET_ADDRSTRLEN];
    if (inet_ntop(AF_INET, b + 12, v4, sizeof v4) != nullptr) return v4;
  }
  // Keep the network half, zero the interface identifier, and print it canonically.
  std::memset(v6.s6_addr + 8, 0, 8);
  char out[INET6_ADDRSTRLEN];
  if (inet_ntop(AF_INET6, &v6, out, sizeof out) == nullptr) return text;
  return std::string(out) + "/64";
}

}  // namespace chat::detail

#include "layout.h"

#include <cmath>

namespace chat::loadgen {

Layout MakeLayout(std::uint32_t clients, std::uint32_t group_size, std::uint32_t groups) {
  Layout l;
  l.members.resize(groups);
  l.groups_of.resize(clients);
  for (std::uint32_t g = 0; g < groups; ++g) {
    l.members[g].reserve(group_size);
    for (std::uint32_t j = 0; j < group_size; ++j) {
      const auto c = static_cast<std::uint32_t>((std::uint64_t{g} * group_size + j) % clients);
      l.members[g].push_back(c);
      l.groups_of[c].push_back(g);
    }
  }
  return l;
}

bool IsOffline(std::uint32_t index, double share) {
  // Client i is offline when the running total floor((i+1)*share) steps up at i (Bresenham).
  return std::floor((index + 1.0) * share) > std::floor(index * share);
}

std::uint32_t RandomSenderPosition(std::uint64_t seed, std::uint64_t k, std::size_t senders) {
  // splitmix64's finaliser: every bit of (seed, k) reaches every bit of the result.
  std::uint64_t z = seed + (k + 1) * 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  // Lemire's multiply-shift on the high 32 bits (senders < 2^32, so the product fits): no division.
  return static_cast<std::uint32_t>(((z >> 32) * static_cast<std::uint64_t>(senders)) >> 32);
}

}  // namespace chat::loadgen

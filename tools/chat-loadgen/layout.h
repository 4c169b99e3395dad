// Who is in which group, and which devices stay offline: pure functions of the run's shape, so every
// run of the same shape (and the state file) agrees on them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace chat::loadgen {

struct Layout {
  // members[g]: client indices of group g; members[g][0] creates the group (its owner).
  std::vector<std::vector<std::uint32_t>> members;
  // groups_of[c]: the groups client c is in.
  std::vector<std::vector<std::uint32_t>> groups_of;
};

// G groups of M members over C clients. Member j of group g is client (g*M + j) mod C: with
// G*M <= C each client is in at most one group, and beyond that memberships wrap around evenly.
// REQUIRES: 2 <= M <= C, G >= 1.
Layout MakeLayout(std::uint32_t clients, std::uint32_t group_size, std::uint32_t groups);

// offline-sync: whether client `index` stays offline, for a share `share` of `clients`. Spread evenly
// over the indices (so over groups and threads); floor(clients * share) devices in all.
bool IsOffline(std::uint32_t index, double share);

// --senders all: the position (0 <= position < senders) of the device that sends message k, drawn
// uniformly and independently per message from `seed` (a hash of seed and k, so every worker draws
// the same without sharing a generator). REQUIRES: senders > 0.
std::uint32_t RandomSenderPosition(std::uint64_t seed, std::uint64_t k, std::size_t senders);

}  // namespace chat::loadgen

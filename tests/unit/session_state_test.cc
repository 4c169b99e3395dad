// What a signed-in connection keeps for its whole life (issue 17, memory per idle connection): its
// token hash (SessionAuth) and its per-address slot, header-only pieces of libchat::server.
#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "address_slots.h"
#include "session_auth.h"

using chat::detail::AddressSlots;
using chat::detail::SessionAuth;
using chat::detail::TokenHash;

TEST_CASE("token hash: a hex hash is kept as its bytes and reads back the same", "[unit][server]") {
  const std::string hex = "0123456789abcdef00ff10e0d0c0b0a09080706050403020100f0e0d0c0b0a09";
  REQUIRE(hex.size() == 64);
  TokenHash h(hex);
  CHECK_FALSE(h.empty());
  CHECK(h.str() == hex);
  CHECK(h == hex);
  std::string other = hex;
  other[63] = '8';
  CHECK_FALSE(h == other);
  other = hex;
  other[0] = '1';
  CHECK_FALSE(h == other);
  CHECK_FALSE(h == hex.substr(0, 62));
  CHECK_FALSE(h == "");
  // Upper case is another string: it is not the same hash.
  std::string upper = hex;
  upper[10] = 'A';
  CHECK_FALSE(h == upper);
}

TEST_CASE("token hash: any other string is kept as it is", "[unit][server]") {
  TokenHash empty;
  CHECK(empty.empty());
  CHECK(empty.str().empty());
  CHECK(empty == "");
  CHECK_FALSE(empty == "a");
  for (const std::string& s : {std::string("h1"), std::string(64, 'A'), std::string(64, 'g'), std::string(65, 'a')}) {
    TokenHash h(s);
    CHECK_FALSE(h.empty());
    CHECK(h.str() == s);
    CHECK(h == s);
    CHECK_FALSE(h == s + "x");
  }
  TokenHash h(std::string(64, 'a'));
  h.Set("h2");
  CHECK(h.str() == "h2");
  h.Set("");
  CHECK(h.empty());
}

TEST_CASE("session auth: a revocation spares exactly the kept token", "[unit][server]") {
  const std::string mine(64, 'c');
  const std::string other(64, 'd');
  SessionAuth auth;
  auth.SetToken(mine);
  CHECK(auth.token_hash() == mine);
  CHECK_FALSE(auth.Revoke(mine));
  CHECK_FALSE(auth.revoked());
  CHECK(auth.Revoke(other));
  CHECK(auth.revoked());

  SessionAuth rotated;
  rotated.SetToken(mine);
  rotated.BeginOwnChange();
  CHECK_FALSE(rotated.Revoke(other));  // Deferred: the command may be what it is about.
  CHECK_FALSE(rotated.EndOwnChange(other));  // Rotated to `other`: spared.
  CHECK(rotated.token_hash() == other);
  CHECK(rotated.Revoke(mine));
}

TEST_CASE("address slots: without a limit every connection shares one slot, nothing counted", "[unit][server]") {
  auto slots = std::make_shared<AddressSlots>(0);
  auto a = slots->TryAcquire("10.0.0.1");
  auto b = slots->TryAcquire("10.0.0.2");
  REQUIRE(a != nullptr);
  CHECK(a == b);  // One object: a connection costs no allocation.
  CHECK(slots->Open("10.0.0.1") == 0);
  a.reset();
  b.reset();
  CHECK(slots->TryAcquire("10.0.0.1") != nullptr);
}

TEST_CASE("address slots: a limit counts per address and frees slots when they go", "[unit][server]") {
  auto slots = std::make_shared<AddressSlots>(2);
  auto a = slots->TryAcquire("10.0.0.1");
  auto b = slots->TryAcquire("10.0.0.1");
  REQUIRE(a != nullptr);
  REQUIRE(b != nullptr);
  CHECK(slots->TryAcquire("10.0.0.1") == nullptr);
  CHECK(slots->TryAcquire("10.0.0.2") != nullptr);
  CHECK(slots->Open("10.0.0.1") == 2);
  a.reset();
  CHECK(slots->Open("10.0.0.1") == 1);
  CHECK(slots->TryAcquire("10.0.0.1") != nullptr);
}

#include "test_support.h"
#include "utf8.h"
#include "validate.h"

using namespace chat;
using namespace chat::detail;

TEST_CASE("UTF-8 validation accepts well-formed text and rejects the rest", "[unit][utf8]") {
  CHECK(IsValidUtf8(""));
  CHECK(IsValidUtf8("plain ascii"));
  CHECK(IsValidUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));  // é € 😀
  CHECK_FALSE(IsValidUtf8("\xff"));
  CHECK_FALSE(IsValidUtf8("\xc3"));                  // Truncated.
  CHECK_FALSE(IsValidUtf8("\xc0\xaf"));              // Overlong '/'.
  CHECK_FALSE(IsValidUtf8("\xed\xa0\x80"));          // Surrogate.
  CHECK_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));      // Beyond U+10FFFF.
  CHECK_FALSE(IsValidUtf8("\xe2\x82"));              // Truncated at the end.
}

TEST_CASE("usernames are normalised to lower case and checked", "[unit][validate]") {
  std::string out;
  REQUIRE_OK(NormalizeUsername("Alice_99", &out));
  CHECK(out == "alice_99");
  CHECK_CODE(NormalizeUsername("ab", &out), StatusCode::kInvalidArgument);
  CHECK_CODE(NormalizeUsername("_alice", &out), StatusCode::kInvalidArgument);
  CHECK_CODE(NormalizeUsername("al ice", &out), StatusCode::kInvalidArgument);
  CHECK_CODE(NormalizeUsername("\xc3\xa9lise", &out), StatusCode::kInvalidArgument);
  CHECK_CODE(CheckText("name", std::string(10, 'x'), 9), StatusCode::kInvalidArgument);
  CHECK_CODE(CheckEmail("a@@b", 100), StatusCode::kInvalidArgument);
  REQUIRE_OK(CheckEmail("a@b.c", 100));
}

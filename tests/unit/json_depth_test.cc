// JsonDepthWithin: the nesting check both front doors run before parsing (json_depth.h).
#include <catch2/catch.hpp>
#include <string>

#include "json_depth.h"

namespace chat::detail {
namespace {

std::string Nested(std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST_CASE("JSON depth: arrays and objects count, up to the limit and not one more", "[unit][input]") {
  CHECK(JsonDepthWithin("1", 0));
  CHECK_FALSE(JsonDepthWithin("[]", 0));
  CHECK(JsonDepthWithin(R"({"a":[1]})", 2));
  CHECK_FALSE(JsonDepthWithin(R"({"a":[1]})", 1));
  CHECK(JsonDepthWithin(Nested(kMaxJsonDepth)));
  CHECK_FALSE(JsonDepthWithin(Nested(kMaxJsonDepth + 1)));
  // Depth is the deepest point, not the number of containers.
  CHECK(JsonDepthWithin("[[1],[2],[3],[4]]", 2));
  // Unbalanced text is left to the parser, but its depth is still bounded.
  CHECK_FALSE(JsonDepthWithin(std::string(100000, '['), kMaxJsonDepth));
}

TEST_CASE("JSON depth: brackets in strings, escaped quotes included, are text", "[unit][input]") {
  CHECK(JsonDepthWithin(R"(["[[[[", "{{{{"])", 1));
  CHECK(JsonDepthWithin(R"(["\"[[[[", 1])", 1));
  CHECK(JsonDepthWithin(R"(["\\", 1])", 1));
  CHECK_FALSE(JsonDepthWithin(R"(["\\", [1]])", 1));  // The string ended: the next '[' counts.
}

}  // namespace
}  // namespace chat::detail

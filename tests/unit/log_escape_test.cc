// LogEscape, SanitizeLogLine and LogUsername (libchat/src/log_escape.h): client strings in log lines.
#include "log_escape.h"

#include "test_support.h"

namespace chat::detail {
namespace {

bool HasControl(const std::string& s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("LogEscape turns a forged log line into one line of printable ASCII") {
  const std::string forged = "bob\n2024-01-01T00:00:00.000Z INFO user 1 logged in\r\x1b[2J\x07";
  const std::string out = LogEscape(forged);
  CHECK_FALSE(HasControl(out));
  CHECK(out == "bob\\n2024-01-01T00:00:00.000Z INFO user 1 logged in\\r\\x1b[2J\\x07");
}

TEST_CASE("LogEscape escapes quotes, backslashes and every non-ASCII byte") {
  CHECK(LogEscape("a\"b\\c") == "a\\\"b\\\\c");
  // U+009B (a CSI to some terminals) and a plain non-ASCII letter alike.
  CHECK(LogEscape("\xc2\x9b" "caf\xc3\xa9") == "\\xc2\\x9bcaf\\xc3\\xa9");
  CHECK(LogEscape(std::string("\0x", 2)) == "\\x00x");
}

TEST_CASE("LogEscape shows at most max_bytes of a long string and its length") {
  const std::string huge(250 * 1024, 'A');
  const std::string out = LogEscape(huge);
  // Built with += rather than `std::string(n, 'A') + "..."`: GCC 12 warns falsely (-Warray-bounds) on
  // the inlined operator+ of a temporary once this file shares a unity build with others.
  std::string expected(kLogStringBytes, 'A');
  expected += "...(256000 bytes)";
  CHECK(out == expected);
  CHECK(LogEscape("short", 3) == "sho...(5 bytes)");
  CHECK(LogEscape("", 3).empty());
}

TEST_CASE("SanitizeLogLine escapes control bytes and cuts a line") {
  CHECK(SanitizeLogLine("login of 'x\ny' refused") == "login of 'x\\x0ay' refused");
  const std::string cut = SanitizeLogLine(std::string(10000, 'x'));
  CHECK(cut.size() < kMaxLogLineBytes + 32);
  CHECK(cut.find("(10000 bytes)") != std::string::npos);
}

TEST_CASE("LogUsername shows a valid name only, never what may be a password") {
  CHECK(LogUsername("Alice") == "'alice'");
  CHECK(LogUsername("correct horse battery staple") == "<28 bytes, not a username>");
  CHECK(LogUsername("x\nINFO forged") == "<13 bytes, not a username>");
}

}  // namespace chat::detail

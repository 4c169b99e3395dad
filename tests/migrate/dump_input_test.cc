// Bad dumps stop the import at the first bad line, and the error names that line.
#include <functional>
#include <sstream>

#include "migrate_support.h"

using namespace chat;
using chat::test::Fixture;

namespace {

std::vector<std::string> Lines(const std::string& dump) {
  std::vector<std::string> lines;
  std::istringstream in(dump);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string Join(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}

// Index of the first line holding `needle`.
std::size_t Find(const std::vector<std::string>& lines, const std::string& needle) {
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].find(needle) != std::string::npos) return i;
  }
  FAIL("no line holds " << needle);
  return 0;
}

void Replace(std::string* s, const std::string& from, const std::string& to) {
  auto pos = s->find(from);
  REQUIRE(pos != std::string::npos);
  s->replace(pos, from.size(), to);
}

// A small valid dump: one user with a device, a direct chat with two messages.
const std::string& ValidDump() {
  static const std::string dump = [] {
    Fixture f("mem");
    auto a = f.NewUser("ann");
    auto b = f.NewUser("ben");
    auto chat = f.service->CreateDirect(a.user.id, b.user.id);
    REQUIRE_OK(chat);
    REQUIRE_OK(f.service->Send({a.user.id, a.device.id, chat->id, "x1", MessageKind::kText, "hi", {}, 0}));
    return test::ExportString(*f.store);
  }();
  return dump;
}

struct BadCase {
  const char* name;
  // Edits the lines of a valid dump and returns the 1-based line the error must name.
  std::function<std::size_t(std::vector<std::string>*)> edit;
  const char* expected;  // A piece of the error message.
};

}  // namespace

TEST_CASE("a valid dump imports", "[migrate][dump][input]") {
  Fixture f("mem");
  std::istringstream in(ValidDump());
  auto counts = ImportDump(in, *f.store);
  REQUIRE_OK(counts);
  CHECK(counts->records + 2 == Lines(ValidDump()).size());
  CHECK(counts->messages == 2);  // The creation entry and "hi".
}

TEST_CASE("a bad line stops the import and names the line", "[migrate][dump][input]") {
  auto c = GENERATE(values<BadCase>({
      {"truncated in the middle of a line",
       [](auto* l) {
         auto i = Find(*l, "\"type\":\"message\"");
         (*l)[i].resize((*l)[i].size() / 2);
         l->resize(i + 1);
         return i + 1;
       },
       "not valid JSON"},
      {"truncated at a line boundary (no end line)",
       [](auto* l) {
         l->pop_back();
         return l->size();
       },
       "without its end line"},
      {"corrupt bytes",
       [](auto* l) {
         auto i = Find(*l, "\"type\":\"device\"");
         (*l)[i] = std::string("\x00\x7f garbage {", 12);
         return i + 1;
       },
       "not valid JSON"},
      {"unknown record type",
       [](auto* l) {
         auto i = Find(*l, "\"type\":\"participant\"");
         Replace(&(*l)[i], "\"type\":\"participant\"", "\"type\":\"sticker\"");
         return i + 1;
       },
       "unknown record type \"sticker\""},
      {"a number as a string",
       [](auto* l) {
         auto i = Find(*l, "\"type\":\"user\"");
         Replace(&(*l)[i], "\"id\":1,", "\"id\":\"1\",");
         return i + 1;
       },
       "user.id: expected a non-negative integer, got string"},
      {"a negative id",
       [](auto* l) {
         auto i = Find(*l, "\"type\":\"chat\"");
         Replace(&(*l)[i], "\"id\":1,", "\"id\":-1,");
         return i + 1;
       },
       "chat.id: expected a non-negative integer"},
      {"a bool as a number",
       [](auto* l) {
         auto i = Find(*l, "\"type\":\"message\"");
         Replace(&(*l)[i], "\"deleted\":false", "\"deleted\":0");
         return i + 1;
       },
       "message.deleted: expected true or false"},
      {"an unknown enum name",
       [](auto* l) {
         auto i = Find(*l, "\"type\":\"participant\"");
         Replace(&(*l)[i], "\"role\":\"member\"", "\"role\":\"emperor\"");
         return i + 1;
       },
       "participant.role: unknown value \"emperor\""},
      {"a missing field",
       [](auto* l) {
         auto i = Find(*l, "\"type\":\"device\"");
         Replace(&(*l)[i], "\"kind\":\"phone\",", "");
         return i + 1;
       },
       "device.kind: missing"},
      {"an unknown field",
       [](auto* l) {
         auto i = Find(*l, "\"type\":\"user\"");
         Replace(&(*l)[i], "\"id\":1,", "\"id\":1,\"shoe_size\":44,");
         return i + 1;
       },
       "user: unknown field \"shoe_size\""},
      {"a record before what it refers to",
       [](auto* l) {
         auto m = Find(*l, "\"type\":\"message\"");
         auto c = Find(*l, "\"type\":\"chat\"");
         std::string msg = (*l)[m];
         l->erase(l->begin() + static_cast<long>(m));
         l->insert(l->begin() + static_cast<long>(c), msg);
         return c + 1;
       },
       "refers to chat 1, which is missing"},
      {"a message past its chat's head",
       [](auto* l) {
         auto i = Find(*l, "\"type\":\"chat\"");
         Replace(&(*l)[i], "\"head\":2,", "\"head\":1,");
         return Find(*l, "\"seq\":2,") + 1;
       },
       "past the chat's head (1)"},
      {"the same record twice",
       [](auto* l) {
         auto i = Find(*l, "\"type\":\"user\"");
         l->insert(l->begin() + static_cast<long>(i), (*l)[i]);
         return i + 2;
       },
       "already in the store"},
      {"an empty line",
       [](auto* l) {
         l->insert(l->begin() + 2, "");
         return std::size_t{3};
       },
       "empty line"},
      {"a wrong count in the end line",
       [](auto* l) {
         l->erase(l->begin() + static_cast<long>(Find(*l, "\"type\":\"receipt\"")));
         return l->size();
       },
       "the end line counts"},
      {"data after the end line",
       [](auto* l) {
         l->push_back((*l)[1]);
         return l->size();
       },
       "data after the end line"},
      {"no header",
       [](auto* l) {
         l->erase(l->begin());
         return std::size_t{1};
       },
       "not a libchat dump"},
      {"a newer format version",
       [](auto* l) {
         Replace(&(*l)[0], "\"format_version\":1", "\"format_version\":2");
         return std::size_t{1};
       },
       "dump format version 2 is newer"},
  }));
  INFO(c.name);
  auto lines = Lines(ValidDump());
  const std::size_t bad_line = c.edit(&lines);
  std::string text = Join(lines);
  if (c.name == std::string("truncated in the middle of a line")) text.pop_back();  // Cut: no final newline.

  Fixture f("mem");
  std::istringstream in(text);
  auto imported = ImportDump(in, *f.store);
  REQUIRE_FALSE(imported.ok());
  INFO(imported.status().ToString());
  CHECK(imported.status().message().rfind("line " + std::to_string(bad_line) + ": ", 0) == 0);
  CHECK(imported.status().message().find(c.expected) != std::string::npos);
}

TEST_CASE("empty input is not a dump", "[migrate][dump][input]") {
  Fixture f("mem");
  std::istringstream in("");
  auto imported = ImportDump(in, *f.store);
  CHECK_CODE(imported, StatusCode::kInvalidArgument);
  CHECK(imported.status().message().find("line 1: empty input") == 0);
}

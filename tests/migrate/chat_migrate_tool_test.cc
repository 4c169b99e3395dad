// chat-migrate driven as a process: commands, exit codes (0 ok, 1 failure, 2 usage), --json, and
// imports that leave the target absent when the input is bad.
#include <sys/wait.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "migrate_support.h"
#include "subprocess.h"

using namespace chat;
namespace fs = std::filesystem;

namespace {

using Run = test::CommandRun;
using test::ReadFile;
using test::ShellQuote;
using test::WriteFile;

// A scratch directory, a populated LevelDB store in it (closed, so the tool can lock it) and the
// dump the library makes of it.
class ToolTest {
 public:
  ToolTest() {
    test::Fixture f("leveldb");
    test::Populate(f);
    dump_ = test::ExportString(*f.store);
    f.service.reset();
    f.store.reset();
    fs::copy(f.dir->path() / "store", Path("store"), fs::copy_options::recursive);
  }

  fs::path Path(const std::string& name) const { return dir_.path() / name; }
  std::string Uri(const std::string& name) const { return "leveldb://" + Path(name).string(); }
  const std::string& dump() const { return dump_; }

  // Runs chat-migrate with `args` (already quoted), standard input from `stdin_path` (or nothing).
  Run Migrate(const std::string& args, const fs::path& stdin_path = "/dev/null") const {
    const fs::path out = Path("stdout.txt");
    const fs::path err = Path("stderr.txt");
    const std::string cmd = ShellQuote(CHAT_MIGRATE_BIN) + " " + args + " <" + ShellQuote(stdin_path.string()) + " >" +
                            ShellQuote(out.string()) + " 2>" + ShellQuote(err.string());
    Run r;
    const int status = std::system(cmd.c_str());
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = ReadFile(out);
    r.err = ReadFile(err);
    INFO(cmd << "\nstdout: " << r.out << "\nstderr: " << r.err);
    return r;
  }

  // The directory's entries other than the ones the test wrote itself: leftovers of an import.
  std::vector<std::string> Entries() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_.path())) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  test::TempDir dir_;
  std::string dump_;
};

nlohmann::json LastJsonLine(const std::string& text) {
  auto end = text.find_last_not_of('\n');
  REQUIRE(end != std::string::npos);
  auto start = text.rfind('\n', end);
  return nlohmann::json::parse(text.substr(start == std::string::npos ? 0 : start + 1, end + 1));
}

}  // namespace

TEST_CASE("chat-migrate: usage errors exit 2, --help exits 0", "[migrate][tool]") {
  ToolTest t;
  auto help = t.Migrate("--help");
  CHECK(help.code == 0);
  CHECK(help.out.find("Usage: chat-migrate COMMAND") != std::string::npos);
  for (const char* args : {"", "frobnicate", "status", "--bogus status", "status --store not-a-uri",
                           "status --store cassandra://db", "export --from mem:// --in x", "copy --from mem://"}) {
    INFO(args);
    auto r = t.Migrate(args);
    CHECK(r.code == 2);
    CHECK(r.err.find("chat-migrate: ") == 0);
    CHECK(r.err.find("Try 'chat-migrate --help'") != std::string::npos);
  }
  auto json = t.Migrate("status --json");
  CHECK(json.code == 2);
  auto j = LastJsonLine(json.out);
  CHECK(j["ok"] == false);
  CHECK(j["error"]["code"] == "usage");
}

TEST_CASE("chat-migrate: status and up", "[migrate][tool]") {
  ToolTest t;
  auto status = t.Migrate("status --json --store " + ShellQuote(t.Uri("store")));
  REQUIRE(status.code == 0);
  auto j = LastJsonLine(status.out);
  CHECK(j["schema_version"] == kSchemaVersion);
  CHECK(j["target_version"] == kSchemaVersion);
  CHECK(j["state"] == "up_to_date");
  CHECK(j["pending"].empty());

  auto up = t.Migrate("up --store " + ShellQuote(t.Uri("store")));
  CHECK(up.code == 0);
  CHECK(up.out.find("nothing to do") != std::string::npos);

  auto missing = t.Migrate("status --store " + ShellQuote(t.Uri("nowhere")));
  CHECK(missing.code == 1);
  CHECK(missing.err.find("no store at") != std::string::npos);
  CHECK_FALSE(fs::exists(t.Path("nowhere")));  // Looking did not create it.

  // A store from a newer build: status says so, up refuses.
  {
    auto engine = Registry::Default().MakeKvEngine(t.Uri("store"));
    REQUIRE_OK(engine);
    KvBatch b;
    b.Put("meta/schema", std::to_string(kSchemaVersion + 1));
    REQUIRE_OK((*engine)->Write(b, true));
  }
  auto newer = t.Migrate("status --json --store " + ShellQuote(t.Uri("store")));
  CHECK(newer.code == 0);
  CHECK(LastJsonLine(newer.out)["state"] == "newer");
  auto refused = t.Migrate("up --json --store " + ShellQuote(t.Uri("store")));
  CHECK(refused.code == 1);
  CHECK(LastJsonLine(refused.out)["error"]["code"] == "failed_precondition");
  CHECK(refused.err.find("upgrade libchat") != std::string::npos);
}

TEST_CASE("chat-migrate: export, import and export again give the same dump", "[migrate][tool]") {
  ToolTest t;
  auto exported = t.Migrate("export --json --from " + ShellQuote(t.Uri("store")) + " --out " + ShellQuote(t.Path("a.jsonl")));
  REQUIRE(exported.code == 0);
  CHECK(ReadFile(t.Path("a.jsonl")) == t.dump());
  CHECK(LastJsonLine(exported.out)["counts"]["users"] == 3);
  CHECK_FALSE(fs::exists(t.Path("a.jsonl.partial")));

  auto imported = t.Migrate("import --to " + ShellQuote(t.Uri("copy")) + " --in " + ShellQuote(t.Path("a.jsonl")));
  REQUIRE(imported.code == 0);
  CHECK(imported.out.find("imported ") == 0);

  // Through standard output and standard input this time.
  auto again = t.Migrate("export --from " + ShellQuote(t.Uri("copy")));
  REQUIRE(again.code == 0);
  CHECK(again.out == t.dump());
  CHECK(again.err.find("exported ") == 0);  // The report stays off the data stream.
  WriteFile(t.Path("b.jsonl"), again.out);
  auto piped = t.Migrate("import --to " + ShellQuote(t.Uri("copy2")), t.Path("b.jsonl"));
  REQUIRE(piped.code == 0);
  CHECK(t.Migrate("export --from " + ShellQuote(t.Uri("copy2"))).out == t.dump());

  // An existing empty directory is a fresh target too; the store takes its place.
  fs::create_directory(t.Path("empty"));
  REQUIRE(t.Migrate("import --to " + ShellQuote(t.Uri("empty")) + " --in " + ShellQuote(t.Path("a.jsonl"))).code == 0);
  CHECK(t.Migrate("export --from " + ShellQuote(t.Uri("empty"))).out == t.dump());
}

TEST_CASE("chat-migrate: a store in use by another process is refused", "[migrate][tool]") {
  ToolTest t;
  auto held = Registry::Default().MakeStore(t.Uri("store"));  // This process holds LevelDB's lock.
  REQUIRE_OK(held);
  auto r = t.Migrate("status --store " + ShellQuote(t.Uri("store")));
  CHECK(r.code == 1);
  CHECK(r.err.find("is chatd, or another chat-migrate, using this store?") != std::string::npos);
}

TEST_CASE("chat-migrate: copy between stores", "[migrate][tool]") {
  ToolTest t;
  auto copy = t.Migrate("copy --json --from " + ShellQuote(t.Uri("store")) + " --to " + ShellQuote(t.Uri("copied")));
  REQUIRE(copy.code == 0);
  auto j = LastJsonLine(copy.out);
  CHECK(j["ok"] == true);
  CHECK(j["counts"]["chats"] == 2);
  CHECK(t.Migrate("export --from " + ShellQuote(t.Uri("copied"))).out == t.dump());
  // Into memory: a dry run that checks every record of the source.
  CHECK(t.Migrate("copy --from " + ShellQuote(t.Uri("store")) + " --to mem://").code == 0);
  // Onto a store that holds records: refused, and that store is left alone.
  auto onto = t.Migrate("copy --from " + ShellQuote(t.Uri("copied")) + " --to " + ShellQuote(t.Uri("store")));
  CHECK(onto.code == 1);
  CHECK(onto.err.find("import only into a fresh store") != std::string::npos);
  CHECK(t.Migrate("export --from " + ShellQuote(t.Uri("store"))).out == t.dump());
}

TEST_CASE("chat-migrate: bad input stops with the line number and leaves no target", "[migrate][tool]") {
  ToolTest t;
  std::vector<std::string> lines;
  std::istringstream in(t.dump());
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  const auto before = t.Entries();

  SECTION("a dump cut in the middle of a line") {
    std::string cut;
    for (std::size_t i = 0; i < 6; ++i) cut += lines[i] + "\n";
    cut += lines[6].substr(0, lines[6].size() / 2);
    WriteFile(t.Path("bad.jsonl"), cut);
    auto r = t.Migrate("import --to " + ShellQuote(t.Uri("target")) + " --in " + ShellQuote(t.Path("bad.jsonl")));
    CHECK(r.code == 1);
    CHECK(r.err.find("line 7: not valid JSON") != std::string::npos);
  }
  SECTION("an unknown entity type, on standard input") {
    std::string text;
    for (std::size_t i = 0; i < lines.size(); ++i) {
      text += (i == 4 ? std::string(R"({"type":"poll","question":"lunch?"})") : lines[i]) + "\n";
    }
    WriteFile(t.Path("bad.jsonl"), text);
    auto r = t.Migrate("import --json --to " + ShellQuote(t.Uri("target")), t.Path("bad.jsonl"));
    CHECK(r.code == 1);
    auto j = LastJsonLine(r.out);
    CHECK(j["error"]["code"] == "invalid_argument");
    CHECK(j["error"]["message"].get<std::string>().find("line 5: unknown record type \"poll\"") != std::string::npos);
  }
  SECTION("a dump without its end line") {
    std::string text;
    for (std::size_t i = 0; i + 1 < lines.size(); ++i) text += lines[i] + "\n";
    WriteFile(t.Path("bad.jsonl"), text);
    auto r = t.Migrate("import --to " + ShellQuote(t.Uri("target")) + " --in " + ShellQuote(t.Path("bad.jsonl")));
    CHECK(r.code == 1);
    CHECK(r.err.find("line " + std::to_string(lines.size() - 1) + ": the dump stops here") != std::string::npos);
  }
  CHECK_FALSE(fs::exists(t.Path("target")));
  // Nothing left beside it either (no staging directory), only the files the test wrote.
  auto after = t.Entries();
  after.erase(std::remove_if(after.begin(), after.end(),
                             [](const std::string& n) { return n == "bad.jsonl" || n.rfind("std", 0) == 0; }),
              after.end());
  auto expected = before;
  expected.erase(
      std::remove_if(expected.begin(), expected.end(), [](const std::string& n) { return n.rfind("std", 0) == 0; }),
      expected.end());
  CHECK(after == expected);
}

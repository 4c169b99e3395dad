// What chatd writes to its log and to its data folder, against an attacker (issue 11, items 6 and 9):
// no client string can forge or flood a log line, and what chatd keeps on disk is its user's alone.
// A real chatd on 127.0.0.1, raw clients, the log and the folder read back.
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "crypto.h"
#include "test_server.h"

extern char** environ;

namespace chat::test {
namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::size_t CountContaining(const std::vector<std::string>& lines, const std::string& what) {
  std::size_t n = 0;
  for (const auto& l : lines) n += l.find(what) != std::string::npos ? 1 : 0;
  return n;
}

Reply Login(Client& c, const std::string& username, const std::string& password) {
  return c.Call("login", Json{{"username", username}, {"password", password}, {"device", {{"kind", "phone"}}}}.dump());
}

// A forged line, as it would look if a name were logged raw.
const std::string kForged = "2031-01-01T00:00:00.000Z INFO user 1 logged in as device 1 (phone) from 10.0.0.1:1";

TEST_CASE("a username with a newline, a 250 KB username or a password typed as the username never reach the log raw",
          "[integration][logs]") {
  TestServer s;
  auto c = s.chatd().Connect();
  CHECK(Login(*c, "mallory\n" + kForged, "wrong-password").code == "unauthenticated");
  CHECK(Login(*c, std::string(250 * 1024, 'A'), "wrong-password").code == "unauthenticated");
  CHECK(Login(*c, "correct horse battery staple", "wrong-password").code == "unauthenticated");
  CHECK(c->Call("removeDevice", Json{{"username", "x\r\n" + kForged}, {"password", "p"}, {"deviceId", 1}}.dump()).code ==
        "unauthenticated");
  c->Call("ping");  // Everything above has been handled (one request at a time).
  const std::vector<std::string> lines = Lines(s.chatd().Log());
  for (const auto& line : lines) {
    INFO(line.substr(0, 200));
    CHECK(line.rfind("2031-", 0) != 0);      // No line of the attacker's making.
    CHECK(line.size() < 4200);               // No quarter-megabyte line.
    CHECK(line.find("correct horse") == std::string::npos);  // Maybe a password: never logged.
  }
  CHECK(CountContaining(lines, "not a username>") >= 3);
}

TEST_CASE("a login loop from one connection writes a few log lines, not one per attempt", "[integration][logs]") {
  TestServer s;
  RegisterUser(s.chatd(), "victim");
  auto c = s.chatd().Connect();
  const std::size_t before = s.chatd().Log().size();
  int answered = 0;
  for (int i = 0; i < 2000; ++i) {
    Reply r = Login(*c, "victim", "guess-" + std::to_string(i));
    answered += (r.code == "unauthenticated" || r.code == "resource_exhausted") ? 1 : 0;
  }
  CHECK(answered == 2000);
  c->Call("ping");
  const std::string log = s.chatd().Log();
  const std::vector<std::string> lines = Lines(log.substr(before));
  const std::size_t refusals = CountContaining(lines, "login of 'victim'");
  std::printf("login loop: 2000 refusals wrote %zu log lines, %zu bytes\n", refusals, log.size() - before);
  CHECK(refusals <= 12);  // 10 a minute per address, and perhaps one saying how many were dropped.
  CHECK(log.size() - before < 64 * 1024);
  CHECK(MetricValue(s.port(), "chat_log_lines_suppressed_total") >= 1900);
}

TEST_CASE("the admin audit line of a hostile path stays one line, and refusals are not logged one by one",
          "[integration][logs]") {
  TempDir token_dir;
  const std::string token_file = (token_dir.path() / "admin-token").string();
  std::ofstream(token_file) << "logs-admin-token-0123456789abcdef\n";
  TestServer s({"--admin-token-file", token_file, "--admin-listen", "127.0.0.1:0"});
  const std::uint16_t admin = s.chatd().AdminPort();
  // httplib percent-decodes the path: %0A is a newline in the audit line unless it is escaped.
  const std::string forged_path = "/v1/users/%0A2031-01-01T00:00:00.000Z%20admin:%20127.0.0.1%20POST%20/v1/users/1/ban%20200";
  for (int i = 0; i < 200; ++i) {
    const std::string status = HttpGet(admin, forged_path).substr(0, 3);
    if (i == 0) CHECK(status == "401");
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const std::vector<std::string> lines = Lines(s.chatd().Log());
  for (const auto& line : lines) CHECK(line.rfind("2031-", 0) != 0);
  const std::size_t audited = CountContaining(lines, "/v1/users/");
  INFO("audit lines: " << audited);
  CHECK(audited >= 1);
  CHECK(audited <= 12);
}

TEST_CASE("a protection turned off is named in a warning at start", "[integration][logs]") {
  // The harness starts chatd with --password-cost minimum and --rate-limits off.
  TestServer s({"--login-throttle", "off", "--spam", "off"});
  const std::string log = s.chatd().Log();
  CHECK(log.find("--password-cost minimum") != std::string::npos);
  CHECK(log.find("--rate-limits off") != std::string::npos);
  CHECK(log.find("--login-throttle off") != std::string::npos);
  CHECK(log.find("--spam off") != std::string::npos);
}

// ---- Data at rest ----

unsigned Mode(const fs::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// A tiny PNG uploaded as an attachment: a blob file on disk.
void UploadPng(std::uint16_t port, Client& client, const std::string& token) {
  const std::string png = std::string("\x89PNG\r\n\x1a\n", 8) + "not really an image";
  Reply ticket = client.Call("createAttachment", Json{{"kind", "image"},
                                                      {"mimeType", "image/png"},
                                                      {"size", png.size()},
                                                      {"sha256", detail::Sha256Hex(png)}}
                                                     .dump());
  INFO(ticket.raw);
  REQUIRE(ticket.ok);
  const std::string id = Json::parse(ticket.result).at("attachment").at("id");
  RawTcp http(port);
  http.Send("PUT /v1/attachments/" + id + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: Bearer " +
            token + "\r\nContent-Type: application/octet-stream\r\nContent-Length: " + std::to_string(png.size()) + "\r\n\r\n" + png);
  const std::string response = http.ReadAll();
  INFO(response);
  REQUIRE(response.rfind("HTTP/1.1 200", 0) == 0);
}

TEST_CASE("what chatd keeps on disk is private: folders 0700, store files and blobs 0600", "[integration][data]") {
  TempDir dir;
  {
    ChatdProcess chatd(dir.str());
    RegisterUser(chatd, "alice");
    LiveDevice alice = LoginDevice(chatd, "alice", "phone");
    auto chat = alice.client->CreateGroup("g", {});
    REQUIRE_OK(chat);
    REQUIRE_OK(alice.client->SendMessage(chat->id, "m1", "a message at rest"));
    UploadPng(chatd.port(), *alice.client, alice.session.token);
    REQUIRE(chatd.SignalAndWait(SIGTERM) == 0);
  }
  std::size_t files = 0;
  for (const char* sub : {"store", "blobs"}) {
    const fs::path root = dir.path() / sub;
    REQUIRE(fs::is_directory(root));
    CHECK(Mode(root) == 0700);
    for (const auto& e : fs::recursive_directory_iterator(root)) {
      INFO(e.path().string() << " is 0" << std::oct << Mode(e.path()));
      if (e.is_directory()) {
        CHECK(Mode(e.path()) == 0700);
      } else {
        CHECK(Mode(e.path()) == 0600);
        ++files;
      }
    }
  }
  CHECK(files >= 5);  // LevelDB's CURRENT, LOCK, LOG, MANIFEST, a log file; and the blob.
}

TEST_CASE("chatd refuses to start on a data folder others can read, or warns with --data-permissions warn",
          "[integration][data]") {
  TempDir dir;
  {
    ChatdProcess chatd(dir.str());
    RegisterUser(chatd, "alice");
  }
  // An operator's `chmod 755`, or an old chatd's umask.
  fs::permissions(dir.path(), fs::perms::group_read | fs::perms::group_exec | fs::perms::others_read |
                                  fs::perms::others_exec, fs::perm_options::add);
  std::string err;
  CHECK(RunChatdToExit(dir.str(), {}, &err) == 1);
  INFO(err);
  CHECK(err.find(dir.str()) != std::string::npos);
  CHECK(err.find("chmod -R go-rwx") != std::string::npos);

  // The folder fixed, but a store file made readable: refused too.
  fs::permissions(dir.path(), fs::perms::owner_all, fs::perm_options::replace);
  const fs::path current = dir.path() / "store" / "CURRENT";
  fs::permissions(current, fs::perms::others_read, fs::perm_options::add);
  CHECK(RunChatdToExit(dir.str(), {}, &err) == 1);
  CHECK(err.find("CURRENT") != std::string::npos);

  // With --data-permissions warn it starts, and says so loudly.
  {
    ChatdProcess chatd(dir.str(), {"--data-permissions", "warn"});
    const std::string log = chatd.Log();
    CHECK(log.find("CURRENT is 0604") != std::string::npos);
    CHECK(log.find("open to other users") != std::string::npos);
    auto c = chatd.Connect();
    REQUIRE_OK(c->Login("alice", PasswordOf("alice"), "phone", "after warn"));
  }
  CHECK(RunChatdToExit(dir.str(), {"--data-permissions", "sometimes"}, &err) == 2);
}

}  // namespace
}  // namespace chat::test

// chatctl driven as a process against an AdminServer in this process: commands, --json output and
// exit codes (0 ok, 1 failure, 2 usage), and backup/restore on real LevelDB.
#include <sys/wait.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "admin_test_support.h"
#include "crypto.h"
#include "subprocess.h"

using namespace chat;
using chat::test::AdminHarness;
using chat::test::Json;
using chat::test::kAdminToken;
namespace fs = std::filesystem;

namespace {

// A chatctl run, and the last line of its standard output parsed, if it is JSON.
struct Run : test::CommandRun {
  Json json;
};

// Runs chatctl with `args` (already quoted where needed) and `env` assignments before it.
class Ctl {
 public:
  explicit Ctl(const AdminHarness& h) : url_(h.url()) {}

  Run operator()(const std::string& args, const std::string& env = "CHATCTL_ADMIN_TOKEN=" + std::string(kAdminToken),
                 const std::string& stdin_text = "") const {
    const std::string cmd = "env -u CHATCTL_ADMIN_TOKEN -u CHATCTL_ADMIN_TOKEN_FILE -u CHATCTL_ADMIN_URL " + env +
                            " CHATCTL_ADMIN_URL=" + test::ShellQuote(url_) + " " + test::ShellQuote(CHATCTL_BIN) + " " +
                            args;
    Run r;
    static_cast<test::CommandRun&>(r) = test::RunCommand(cmd, dir_.str(), stdin_text);
    std::string last = r.out;
    while (!last.empty() && last.back() == '\n') last.pop_back();
    last = last.substr(last.rfind('\n') == std::string::npos ? 0 : last.rfind('\n') + 1);
    r.json = Json::parse(last, nullptr, false);
    if (r.json.is_discarded()) r.json = nullptr;
    INFO(cmd << "\nexit " << r.code << "\nstdout: " << r.out << "\nstderr: " << r.err);
    return r;
  }

  fs::path Path(const std::string& name) const { return dir_.path() / name; }

 private:
  std::string url_;
  test::TempDir dir_;
};

}  // namespace

TEST_CASE("chatctl: help, and usage errors exit 2", "[chatctl]") {
  AdminHarness h;
  Ctl ctl(h);
  auto help = ctl("--help");
  CHECK(help.code == 0);
  CHECK(help.out.find("users revoke USER") != std::string::npos);
  CHECK(help.out.find("restore") != std::string::npos);
  CHECK(ctl("users --help").code == 0);
  auto sub = ctl("messages tail --help");
  CHECK(sub.code == 0);
  CHECK(sub.out.find("--follow") != std::string::npos);
  CHECK(sub.out.find("--admin-url") != std::string::npos);

  CHECK(ctl("").code == 2);
  CHECK(ctl("frobnicate").code == 2);
  CHECK(ctl("users frobnicate").code == 2);
  CHECK(ctl("users").code == 2);
  CHECK(ctl("users show").code == 2);
  CHECK(ctl("users show a b").code == 2);
  CHECK(ctl("users list --limit lots").code == 2);
  CHECK(ctl("users list --bogus").code == 2);
  CHECK(ctl("users revoke alice").code == 2);
  CHECK(ctl("messages tail").code == 2);  // --chat is required.
  auto no_token = ctl("users list --json", "");
  CHECK(no_token.code == 2);
  CHECK(no_token.err.find("no admin token") != std::string::npos);
  CHECK(no_token.json["error"]["code"] == "usage");
}

TEST_CASE("chatctl: users commands, with --json for scripts and tables for people", "[chatctl]") {
  AdminHarness h;
  Ctl ctl(h);
  std::ofstream(ctl.Path("pw")) << "password-alice\n";
  auto created = ctl("users create alice --password-file " + test::ShellQuote(ctl.Path("pw").string()) + " --json");
  REQUIRE(created.code == 0);
  CHECK(created.json["username"] == "alice");
  auto dup = ctl("users create alice --password-stdin --json", "CHATCTL_ADMIN_TOKEN=" + std::string(kAdminToken),
                 "password-alice\n");
  CHECK(dup.code == 1);
  CHECK(dup.json["error"]["code"] == "already_exists");
  CHECK(ctl("users create bob").code == 2);  // No password given.
  REQUIRE_OK(h.service().Login("alice", "password-alice", {"phone", "p"}));
  h.fixture().NewUser("bobby");

  auto table = ctl("users list");
  REQUIRE(table.code == 0);
  CHECK(table.out.rfind("ID  USERNAME  DISPLAY NAME", 0) == 0);
  CHECK(table.out.find(" 1  alice") != std::string::npos);
  auto list = ctl("users list --json --limit 1 --all");
  REQUIRE(list.code == 0);
  CHECK(list.json["users"].size() == 2);

  auto show = ctl("users show alice --json");
  REQUIRE(show.code == 0);
  CHECK(show.json["devices"] == 1);
  const std::string id = std::to_string(show.json["id"].get<UserId>());
  CHECK(ctl("users show " + id + " --json").json["username"] == "alice");
  auto missing = ctl("users show nobody --json");
  CHECK(missing.code == 1);
  CHECK(missing.json["error"]["code"] == "not_found");
  CHECK(missing.err.find("not_found") != std::string::npos);

  auto devices = ctl("users devices alice");
  REQUIRE(devices.code == 0);
  CHECK(devices.out.find("phone") != std::string::npos);
  CHECK(ctl("users disable alice").code == 0);
  CHECK(h.service().GetUser(show.json["id"].get<UserId>())->disabled);
  CHECK(ctl("users enable alice --json").json["disabled"] == false);
  auto revoked = ctl("users revoke alice --all --json");
  REQUIRE(revoked.code == 0);
  CHECK(revoked.json["revoked"].size() == 1);

  std::ofstream(ctl.Path("lgpw")) << "loadgen-password\n";
  auto provisioned =
      ctl("users provision --prefix lg --count 25 --password-file " + test::ShellQuote(ctl.Path("lgpw").string()) + " --json");
  REQUIRE(provisioned.code == 0);
  CHECK(provisioned.json["users"].size() == 25);
  REQUIRE_OK(h.service().Resume(provisioned.json["users"][24]["token"].get<std::string>()));
}

TEST_CASE("chatctl: refused and unreachable admin APIs are failures (exit 1)", "[chatctl]") {
  AdminHarness h;
  Ctl ctl(h);
  auto wrong = ctl("users list --json", "CHATCTL_ADMIN_TOKEN=wrong-token-wrong-token");
  CHECK(wrong.code == 1);
  CHECK(wrong.json["error"]["code"] == "unauthenticated");
  std::ofstream(ctl.Path("token")) << kAdminToken << "\n";
  CHECK(ctl("users list --admin-token-file " + test::ShellQuote(ctl.Path("token").string()), "").code == 0);
  CHECK(ctl("users list", "CHATCTL_ADMIN_TOKEN_FILE=" + test::ShellQuote(ctl.Path("token").string())).code == 0);
  CHECK(ctl("users list --admin-token-file /nonexistent/token", "").code == 2);

  auto down = ctl("users list --json --admin-url http://127.0.0.1:1 --timeout 2");
  CHECK(down.code == 1);
  CHECK(down.json["error"]["code"] == "unavailable");
  CHECK(ctl("users list --admin-url ftp://x").code == 2);
}

TEST_CASE("chatctl: chats, messages, inbox and retention", "[chatctl]") {
  AdminHarness h;
  Ctl ctl(h);
  auto alice = h.fixture().NewUser("alice");
  auto bob = h.fixture().NewUser("bob");
  auto g = h.service().CreateGroup(alice.user.id, "team", {bob.user.id});
  REQUIRE_OK(g);
  for (int i = 0; i < 3; ++i) {
    REQUIRE_OK(h.service().Send(test::TextMessage(alice, g->id, "c" + std::to_string(i), "hello " + std::to_string(i))));
  }
  const std::string chat = std::to_string(g->id);

  auto chats = ctl("chats list --json");
  REQUIRE(chats.code == 0);
  CHECK(chats.json["chats"][0]["name"] == "team");
  CHECK(ctl("chats show " + chat).out.find("2 of at most 100") != std::string::npos);
  CHECK(ctl("chats members " + chat + " --json").json["members"].size() == 2);
  CHECK(ctl("chats show 999 --json").json["error"]["code"] == "not_found");
  CHECK(ctl("chats show abc").code == 2);

  auto tail = ctl("messages tail --chat " + chat + " --limit 2");
  REQUIRE(tail.code == 0);
  CHECK(tail.out.find("hello") == std::string::npos);
  CHECK(tail.out.find("SEQ") != std::string::npos);
  auto bodies = ctl("messages tail --chat " + chat + " --bodies --json");
  REQUIRE(bodies.code == 0);
  CHECK(bodies.json["messages"].back()["body"] == "hello 2");
  CHECK(bodies.err.find("audit log") != std::string::npos);

  auto inbox = ctl("inbox stats --user bob --json");
  REQUIRE(inbox.code == 0);
  CHECK(inbox.json["totalPending"] == 4);
  CHECK(ctl("inbox stats").out.find("total pending: 8") != std::string::npos);

  auto dry = ctl("retention run --dry-run --json");
  REQUIRE(dry.code == 0);
  CHECK(dry.json["dryRun"] == true);
  CHECK(dry.json["messages"] == 0);
  CHECK(ctl("retention run").out.find("deleted 0 messages") != std::string::npos);
}

TEST_CASE("chatctl stats reads the key figures from a /metrics endpoint", "[chatctl]") {
  AdminHarness h;
  Ctl ctl(h);
  httplib::Server metrics;
  metrics.Get("/metrics", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("chat_connections 7\nchat_devices_online 5\nchat_messages_in_total 42\n", "text/plain");
  });
  const int port = metrics.bind_to_any_port("127.0.0.1");
  std::thread serve([&] { metrics.listen_after_bind(); });
  while (!metrics.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/metrics";

  auto json = ctl("stats --json --metrics-url " + url, "");
  CHECK(json.code == 0);
  CHECK(json.json["connections"] == 7);
  CHECK(json.json["rssBytes"].is_null());
  auto text = ctl("stats --metrics-url " + url, "");
  CHECK(text.out.find("devices online:") != std::string::npos);
  CHECK(text.out.find("n/a") != std::string::npos);
  CHECK(ctl("stats --metrics-url http://127.0.0.1:" + std::to_string(port) + "/nothing", "").code == 1);
  metrics.stop();
  serve.join();
}

TEST_CASE("chatctl backup while serving, then restore into a stopped store", "[chatctl][backup]") {
  AdminHarness h("leveldb");
  Ctl ctl(h);
  auto alice = h.fixture().NewUser("alice");
  auto g = h.service().CreateGroup(alice.user.id, "team", {});
  REQUIRE_OK(g);
  // A photo, sent: the backup must carry its bytes, not only its record.
  std::string photo("\x89PNG\r\n\x1a\n", 8);
  photo.resize(3000, 'q');
  auto ticket = h.service().CreateAttachment(
      alice.user.id, NewAttachment{AttachmentKind::kImage, "image/png", photo.size(), detail::Sha256Hex(photo)});
  REQUIRE_OK(ticket);
  {
    auto up = h.service().BeginUpload(alice.user.id, ticket->attachment.id);
    REQUIRE_OK(up);
    REQUIRE_OK((*up)->Write(photo));
    REQUIRE_OK((*up)->Finish());
  }
  SendRequest with_photo = test::TextMessage(alice, g->id, "c1", "before the backup");
  with_photo.kind = MessageKind::kImage;
  with_photo.attachments = {ticket->attachment.id};
  REQUIRE_OK(h.service().Send(with_photo));

  const fs::path backup = ctl.Path("backup");
  auto b = ctl("backup --to " + test::ShellQuote(backup.string()) + " --json");
  REQUIRE(b.code == 0);
  CHECK(b.json["dir"] == backup.string());
  CHECK(b.json["attachmentFiles"] == 1);
  CHECK(ctl("backup --to " + test::ShellQuote(backup.string()) + " --json").json["error"]["code"] == "already_exists");
  REQUIRE_OK(h.service().Send(test::TextMessage(alice, g->id, "c2", "after the backup")));

  // Into a new place: no token needed, nothing in the way.
  const std::string fresh = "leveldb://" + ctl.Path("restored").string();
  auto r = ctl("restore --from " + test::ShellQuote(backup.string()) + " --store " + test::ShellQuote(fresh) + " --json", "");
  REQUIRE(r.code == 0);
  CHECK(r.json["users"] == 1);
  CHECK(r.json["messages"] == 2);  // The creation entry and the one message sent before.
  CHECK(r.json["previous"].is_null());
  {
    auto store = test::OpenStore("leveldb", ctl.Path("restored").string());
    CHECK(*store->Head(g->id) == 2);
  }
  // The attachment files went beside the store, where chatd --data-dir keeps them: the photo reads back.
  CHECK(r.json["attachmentFiles"] == 1);
  CHECK(r.json["blobs"] == ctl.Path("blobs").string());
  {
    auto blobs = NewFileBlobStore(ctl.Path("blobs").string());
    REQUIRE_OK(blobs);
    auto reader = (*blobs)->Open(ticket->attachment.id);
    REQUIRE_OK(reader);
    auto bytes = (*reader)->ReadAt(0, photo.size() + 10);
    REQUIRE_OK(bytes);
    CHECK(*bytes == photo);
  }
  // The restored store holds records now: replacing it needs --force, and keeps it aside.
  auto refused = ctl("restore --from " + test::ShellQuote(backup.string()) + " --store " + test::ShellQuote(fresh) + " --json", "");
  CHECK(refused.code == 1);
  CHECK(refused.json["error"]["code"] == "failed_precondition");
  auto forced = ctl("restore --from " + test::ShellQuote(backup.string()) + " --store " + test::ShellQuote(fresh) + " --force --json", "");
  REQUIRE(forced.code == 0);
  REQUIRE(forced.json["previous"].is_string());
  CHECK(fs::exists(forced.json["previous"].get<std::string>()));

  // The live store (this process holds its lock, as chatd would) is refused even with --force.
  const std::string live = "leveldb://" + (h.fixture().dir->path() / "store").string();
  auto busy = ctl("restore --from " + test::ShellQuote(backup.string()) + " --store " + test::ShellQuote(live) + " --force --json", "");
  CHECK(busy.code == 1);
  CHECK(busy.json["error"]["code"] == "failed_precondition");
  CHECK(busy.json["error"]["message"].get<std::string>().find("in use") != std::string::npos);

  CHECK(ctl("restore --from " + test::ShellQuote(ctl.Path("nope").string()) + " --store " + test::ShellQuote(fresh) + " --json", "").code == 1);
  CHECK(ctl("restore --from " + test::ShellQuote(backup.string()) + " --store mem:// --json", "").code == 1);
  CHECK(ctl("restore --from " + test::ShellQuote(backup.string()), "").code == 2);  // --store is required.
}

TEST_CASE("chatctl: users ban and unban, and the list of bans", "[chatctl][ban]") {
  AdminHarness h;
  Ctl ctl(h);
  auto alice = h.fixture().NewUser("alice");
  CHECK(ctl("users ban alice").code == 2);  // --reason is required.
  CHECK_FALSE(h.service().GetUser(alice.user.id)->disabled);

  auto banned = ctl("users ban alice --reason 'spam links' --json");
  REQUIRE(banned.code == 0);
  CHECK(banned.json["banned"] == true);
  CHECK(banned.json["banReason"] == "spam links");
  CHECK_CODE(h.service().Resume(alice.token), StatusCode::kPermissionDenied);
  auto shown = ctl("users show alice");
  REQUIRE(shown.code == 0);
  CHECK(shown.out.find("spam links") != std::string::npos);
  auto bans = ctl("users bans");
  REQUIRE(bans.code == 0);
  CHECK(bans.out.find("alice") != std::string::npos);
  CHECK(ctl("users bans --json").json["bans"].size() == 1);
  auto missing = ctl("users ban nobody --reason x --json");
  CHECK(missing.code == 1);
  CHECK(missing.json["error"]["code"] == "not_found");

  auto unbanned = ctl("users unban alice");
  REQUIRE(unbanned.code == 0);
  CHECK(unbanned.out.find("unbanned alice") != std::string::npos);
  CHECK_FALSE(h.service().GetUser(alice.user.id)->disabled);
  REQUIRE_OK(h.service().Login("alice", "password-alice", {"phone", "p"}));
  CHECK(ctl("users bans --json").json["bans"].empty());
}

TEST_CASE("chatctl spam: flagged accounts, reports and unflag", "[chatctl][spam]") {
  AdminHarness h;
  Ctl ctl(h);
  ChatService& svc = h.service();
  const test::SpamScene scene = test::NewSpamScene(h);
  const Session& spammer = scene.spammer;
  const std::vector<Session>& reporters = scene.reporters;
  for (const auto& r : reporters) REQUIRE_OK(svc.ReportMessage(r.user.id, scene.chat, scene.seq, "ads"));

  auto flagged = ctl("spam flagged");
  CHECK(flagged.code == 0);
  CHECK(flagged.out.find("SUSPENDED") != std::string::npos);
  CHECK(flagged.out.find("report: reported by user") != std::string::npos);
  auto flagged_json = ctl("spam flagged --json");
  REQUIRE(flagged_json.json["flagged"].size() == 1);
  CHECK(flagged_json.json["flagged"][0]["userId"] == spammer.user.id);

  auto reports = ctl("spam reports --user spammer --json");
  CHECK(reports.code == 0);
  CHECK(reports.json["reports"].size() == 5);
  auto none = ctl("spam reports --user reporter0 --json");
  CHECK(none.json["reports"].empty());
  auto table = ctl("spam reports --limit 2");
  CHECK(table.code == 0);
  CHECK(table.out.find("(more: --after 2, or --all)") != std::string::npos);

  auto unflag = ctl("spam unflag spammer");
  CHECK(unflag.code == 0);
  CHECK(ctl("spam flagged --json").json["flagged"].empty());
  REQUIRE_OK(svc.Send(test::TextMessage(spammer, scene.chat, "m2", "sorry")));
  CHECK(ctl("spam unflag nobody").code == 1);
  CHECK(ctl("spam unflag").code == 2);
}

TEST_CASE("chatctl prints display names and ban reasons with their escape sequences defused", "[chatctl][security]") {
  AdminHarness h;
  Ctl ctl(h);
  // A user chooses a display name that clears the operator's screen and retitles the terminal; the
  // reason an admin pasted holds a right-to-left override.
  NewAccount a;
  a.username = "mallory";
  a.password = "password-mallory";
  a.display_name = "\x1b[2J\x1b]0;owned\x07M\xc2\x9b" "31m";
  auto user = h.service().Register(a);
  REQUIRE_OK(user);
  REQUIRE_OK(h.service().BanUser(user->id, "spam \xe2\x80\xae" "gnp.exe"));
  for (const std::string& args : {std::string("users list"), std::string("users show mallory"),
                                  std::string("users bans")}) {
    auto r = ctl(args);
    INFO(args << "\n" << r.out);
    REQUIRE(r.code == 0);
    CHECK(r.out.find('\x1b') == std::string::npos);
    CHECK(r.out.find('\x07') == std::string::npos);
    CHECK(r.out.find("\xc2\x9b") == std::string::npos);
    CHECK(r.out.find("\xe2\x80\xae") == std::string::npos);
  }
  CHECK(ctl("users show mallory").out.find("\\x1b[2J") != std::string::npos);
  // --json output is JSON: its strings are escaped by the encoder, and stay exact.
  auto json = ctl("users show mallory --json");
  REQUIRE(json.code == 0);
  CHECK(json.json["displayName"] == a.display_name);
}

TEST_CASE("chatctl: invitations and a password reset and deleting a user and a chat", "[chatctl][accounts]") {
  AdminHarness h;
  Ctl ctl(h);
  // Invitations: the code alone on standard output, listed by id, revoked.
  auto made = ctl("invites create --uses 2 --valid-hours 1 --note 'for bob'");
  REQUIRE(made.code == 0);
  std::string code = made.out;
  while (!code.empty() && code.back() == '\n') code.pop_back();
  REQUIRE(code.size() == 24);
  REQUIRE_OK(h.service().RegisterWithInvite(NewAccount{"bob", "password-bob", "", "", ""}, code));
  auto listed = ctl("invites list --json");
  REQUIRE(listed.code == 0);
  REQUIRE(listed.json["invites"].size() == 1);
  CHECK(listed.json["invites"][0]["uses"] == 1);
  CHECK(listed.json["invites"][0]["note"] == "for bob");
  CHECK(ctl("invites list").out.find("1/2") != std::string::npos);
  CHECK(ctl("invites create --uses 0").code == 2);
  CHECK(ctl("invites create extra").code == 2);
  CHECK(ctl("invites revoke nothex").code == 2);
  CHECK(ctl("invites revoke " + code.substr(0, 8)).code == 0);
  CHECK(ctl("invites revoke " + code.substr(0, 8) + " --json").json["error"]["code"] == "not_found");
  CHECK_CODE(h.service().RegisterWithInvite(NewAccount{"cy", "password-cy", "", "", ""}, code),
             StatusCode::kPermissionDenied);

  // A password reset: every session ends, the new password works.
  auto alice = h.fixture().NewUser("alice");
  std::ofstream(ctl.Path("newpw")) << "a-new-password-for-alice\n";
  auto reset = ctl("users reset-password alice --password-file " + test::ShellQuote(ctl.Path("newpw").string()) +
                   " --json");
  REQUIRE(reset.code == 0);
  CHECK(reset.json["sessionsEnded"].size() == 1);
  CHECK_CODE(h.service().Resume(alice.token), StatusCode::kUnauthenticated);
  REQUIRE_OK(h.service().Login("alice", "a-new-password-for-alice", {"phone", "p"}));
  CHECK(ctl("users reset-password alice").code == 2);  // No password given.

  // Deleting: refused without --yes (nothing happens), then done.
  auto bob = h.fixture().NewDevice("bob");
  auto chat = h.service().CreateGroup(bob.user.id, "doomed", {alice.user.id});
  REQUIRE_OK(chat);
  REQUIRE_OK(h.service().Send(test::TextMessage(bob, chat->id, "b1", "bye")));
  const std::string chat_id = std::to_string(chat->id);
  CHECK(ctl("chats delete " + chat_id).code == 2);
  CHECK(h.store().GetChat(chat->id).ok());
  auto gone_chat = ctl("chats delete " + chat_id + " --yes --json");
  REQUIRE(gone_chat.code == 0);
  CHECK(gone_chat.json["members"] == 2);
  CHECK_CODE(h.store().GetChat(chat->id), StatusCode::kNotFound);
  CHECK(ctl("chats delete " + chat_id + " --yes --json").json["error"]["code"] == "not_found");
  CHECK(ctl("users delete bob").code == 2);
  auto gone_user = ctl("users delete bob --yes --json");
  REQUIRE(gone_user.code == 0);
  CHECK(gone_user.json["username"] == "bob");
  CHECK_CODE(h.store().FindUserByName("bob"), StatusCode::kNotFound);
  CHECK(h.WaitForAudit("deleted by"));
}

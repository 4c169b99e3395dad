// Fault tests on the real LevelDB store: a child process sends messages from eight threads and
// reports every acknowledgement through a pipe; it is killed with SIGKILL mid-stream; the store is
// reopened and every acknowledged message must be there exactly once, with no sequence gaps.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "test_support.h"

using namespace chat;

namespace {

// Runs in the forked child: never returns. Any failure exits non-zero.
[[noreturn]] void SendUntilKilled(const std::string& dir, int round, int out_fd) {
  auto store = test::OpenStore("leveldb", dir);
  ServiceOptions opts;
  opts.password_cost = PasswordCost::kMinimum;
  // Sends as fast as the store takes them: no rate limits.
  opts.enforce_rate_limits = false;
  auto service = ChatService::Create(opts, std::shared_ptr<Store>(std::move(store)), NewInProcBus());
  if (!service.ok()) _exit(10);
  auto& svc = **service;
  // Later rounds reopen the crashed store: recovery must also accept new sends after the gap-free tail.
  if (round == 0 && !svc.Register({"crashy", "password-crashy", "", "", ""}).ok()) _exit(11);
  auto session = svc.Login("crashy", "password-crashy", {"phone", "p"});
  if (!session.ok()) _exit(12);
  if (round == 0) {
    auto a = svc.CreateGroup(session->user.id, "a", {});
    auto b = svc.CreateGroup(session->user.id, "b", {});
    if (!a.ok() || !b.ok() || a->id != 1 || b->id != 2) _exit(13);
  }
  const ChatId a = 1, b = 2;
  std::string ready = "ready\n";
  if (write(out_fd, ready.data(), ready.size()) < 0) _exit(14);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0;; ++i) {
        SendRequest r = test::TextMessage(*session, (t % 2 == 0) ? a : b, "r" + std::to_string(round) + "t" + std::to_string(t) + "-" + std::to_string(i));
        r.body = "body " + r.client_id;
        auto res = svc.Send(r);
        if (!res.ok()) _exit(15);
        // One write per ack, well under PIPE_BUF: lines never interleave.
        std::string line = "ack " + std::to_string(r.chat) + " " + std::to_string(res->message.seq) + " " +
                           r.client_id + "\n";
        if (write(out_fd, line.data(), line.size()) < 0) _exit(16);
      }
    });
  }
  for (auto& t : threads) t.join();
  _exit(0);
}

struct Ack {
  ChatId chat;
  Seq seq;
  std::string client_id;
};

}  // namespace

TEST_CASE("every message acknowledged before kill -9 is in the reopened store exactly once, without gaps", "[fault][crash]") {
  test::TempDir dir;
  const std::string store_dir = (dir.path() / "store").string();
  std::vector<Ack> acks;  // Across rounds: what was acknowledged stays.
  for (int round = 0; round < 3; ++round) {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      close(fds[0]);
      SendUntilKilled(store_dir, round, fds[1]);
    }
    close(fds[1]);
    FILE* in = fdopen(fds[0], "r");
    REQUIRE(in != nullptr);
    char line[256];
    const std::size_t kill_after = acks.size() + 1500 + 700 * round;
    while (acks.size() < kill_after && fgets(line, sizeof line, in) != nullptr) {
      std::istringstream is(line);
      std::string word;
      is >> word;
      if (word != "ack") continue;
      Ack a;
      is >> a.chat >> a.seq >> a.client_id;
      acks.push_back(a);
    }
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    REQUIRE(WIFSIGNALED(status));
    // Acks already in the pipe were given before the kill: they count too.
    while (fgets(line, sizeof line, in) != nullptr) {
      std::istringstream is(line);
      std::string word;
      is >> word;
      if (word != "ack") continue;
      Ack a;
      is >> a.chat >> a.seq >> a.client_id;
      acks.push_back(a);
    }
    fclose(in);
    REQUIRE(acks.size() >= kill_after);

    auto store = test::OpenStore("leveldb", store_dir);
    std::map<ChatId, std::vector<Message>> by_chat;
    for (ChatId chat : {ChatId{1}, ChatId{2}}) {
      auto msgs = store->ReadMessages(chat, 0, 1'000'000);
      REQUIRE_OK(msgs);
      by_chat[chat] = std::move(*msgs);
      const auto& ms = by_chat[chat];
      auto head = store->Head(chat);
      REQUIRE_OK(head);
      CHECK(*head == ms.size());
      std::set<std::string> client_ids;
      for (std::size_t i = 0; i < ms.size(); ++i) {
        CHECK(ms[i].seq == i + 1);  // Gapless.
        if (!ms[i].client_id.empty()) CHECK(client_ids.insert(ms[i].client_id).second);  // No duplicates.
      }
    }
    for (const auto& a : acks) {
      const auto& ms = by_chat[a.chat];
      REQUIRE(a.seq >= 1);
      REQUIRE(a.seq <= ms.size());
      CHECK(ms[a.seq - 1].client_id == a.client_id);
    }
    // The reopened store keeps serving: a resend of an acknowledged id is still a duplicate.
    Message resend;
    resend.chat = acks.back().chat;
    resend.sender = 1;
    resend.sender_device = static_cast<DeviceId>(round + 1);
    resend.client_id = acks.back().client_id;
    resend.body = "again";
    auto again = store->Append(resend, CommitObserver());
    REQUIRE_OK(again);
    CHECK(again->duplicate);
    CHECK(again->message.seq == acks.back().seq);
  }
}

TEST_CASE("the LevelDB store keeps every entity across close and reopen", "[fault][reopen]") {
  test::Fixture f("leveldb");
  auto alice = f.NewUser("alice");
  auto bob = f.NewUser("bob");
  auto group = f.service->CreateGroup(alice.user.id, "group", {bob.user.id}, "{\"topic\":1}");
  auto direct = f.service->CreateDirect(alice.user.id, bob.user.id);
  REQUIRE_OK(group);
  REQUIRE_OK(direct);
  SendRequest r{alice.user.id, alice.device.id, group->id, "c1", MessageKind::kText, "persisted", {}, 0};
  auto sent = f.service->Send(r);
  REQUIRE_OK(sent);
  REQUIRE_OK(f.service->Ack(bob.user.id, bob.device.id, group->id, 2));
  REQUIRE_OK(f.service->MarkRead(bob.user.id, group->id, 2));
  REQUIRE_OK(f.service->SetPushToken(bob.user.id, bob.device.id, "webhook", "tok"));

  f.Reopen();
  auto resumed = f.service->Resume(bob.token);
  REQUIRE_OK(resumed);
  CHECK(resumed->device.push_token == "tok");
  auto chats = f.service->ListChats(bob.user.id);
  REQUIRE_OK(chats);
  CHECK(chats->size() == 2);
  auto again = f.service->CreateDirect(bob.user.id, alice.user.id);
  REQUIRE_OK(again);
  CHECK(again->id == direct->id);
  auto view = f.service->GetChat(bob.user.id, group->id);
  REQUIRE_OK(view);
  CHECK(view->chat.metadata == "{\"topic\":1}");
  CHECK(view->head == 2);
  auto cursor = f.store->DeviceCursor(bob.device.id, group->id);
  REQUIRE_OK(cursor);
  CHECK(*cursor == 2);
  auto next = f.service->Send({alice.user.id, alice.device.id, group->id, "c2", MessageKind::kText, "next", {}, 0});
  REQUIRE_OK(next);
  CHECK(next->message.seq == 3);
  // New ids continue after the old ones.
  auto carol = f.NewUser("carol");
  CHECK(carol.user.id == 3);
}

// The store's committer thread is shared by every send in the process: per message it runs the
// commit observers (bus handlers) and the send's completion, which must do no store work
// (Store::AppendAsync). CommitterWatch counts the engine reads made on it.
#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "committer_watch.h"
#include "test_support.h"

namespace chat::test {
namespace {

struct Answers {
  int ok = 0;
  int on_committer = 0;
};

// Sends `n` text messages from `from` without waiting for each; returns once all are answered. No
// assertion here: it runs on two threads, and Catch2's are for one.
Answers SendAll(Fixture& f, const CommitterWatch& watch, const Session& from, ChatId chat, int n, const std::string& tag) {
  std::mutex mu;
  std::condition_variable cv;
  int answered = 0;
  Answers out;
  for (int i = 0; i < n; ++i) {
    f.service->SendAsync(TextMessage(from, chat, tag + std::to_string(i)), [&](Result<AppendResult> r) {
      const bool here = watch.OnWriter();
      std::lock_guard lock(mu);
      ++answered;
      if (r.ok()) ++out.ok;
      if (here) ++out.on_committer;
      cv.notify_all();
    });
  }
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return answered == n; });
  return out;
}

}  // namespace

TEST_CASE("a send's commit callbacks read nothing from the store on the committer thread", "[unit][committer]") {
  Fixture f("mem");
  CommitterWatch* watch = WatchCommitter(f);
  Session alice = f.NewUser("alice");
  Session bob = f.NewUser("bob");
  Session carol = f.NewUser("carol");
  auto group = f.service->CreateGroup(alice.user.id, "g", {bob.user.id, carol.user.id});
  REQUIRE_OK(group);
  // Every event of a send is observed on the committer, as the server's router and the push
  // dispatcher are: the handler itself only counts.
  std::atomic<int> events_on_committer{0};
  Subscription sub = f.bus->Subscribe([&](const std::shared_ptr<const Event>& e) {
    if (e->type == EventType::kMessage && watch->OnWriter()) ++events_on_committer;
  });
  watch->Reset();

  // Two senders at once, so that groups of several entries commit together.
  Answers bobs;
  std::thread other([&] { bobs = SendAll(f, *watch, bob, group->id, 100, "b-"); });
  const Answers alices = SendAll(f, *watch, alice, group->id, 100, "a-");
  other.join();
  CHECK(alices.ok == 100);
  CHECK(bobs.ok == 100);
  REQUIRE_OK(f.service->MarkRead(carol.user.id, group->id, 150));

  // A send is answered by the later of its commit (on the committer) and its spam scoring (on the
  // sending thread, right after AppendAsync returns): nearly always the commit.
  CHECK(alices.on_committer + bobs.on_committer > 0);  // The callbacks did run on the committer...
  CHECK(events_on_committer == 200);
  CHECK(watch->reads_on_writer() == 0);  // ...and read nothing there.
  // Each sender's read cursor stands at their last message: it moved in the append's own write.
  auto log = f.service->History(carol.user.id, group->id, 0, 500);
  REQUIRE_OK(log);
  std::map<UserId, Seq> last;
  for (const Message& m : *log) last[m.sender] = std::max(last[m.sender], m.seq);
  auto receipts = f.service->Receipts(alice.user.id, group->id);
  REQUIRE_OK(receipts);
  for (const ReceiptCursor& c : *receipts) {
    if (c.user == alice.user.id || c.user == bob.user.id) CHECK(c.read == last[c.user]);
  }
}

TEST_CASE("the committer watch sees a store read made from a commit callback", "[unit][committer]") {
  // What the test above would catch: a bus handler raising the sender's read cursor on the committer
  // (as sends once did) reads the store there.
  Fixture f("mem");
  CommitterWatch* watch = WatchCommitter(f);
  Session alice = f.NewUser("alice");
  Session bob = f.NewUser("bob");
  auto chat = f.service->CreateDirect(alice.user.id, bob.user.id);
  REQUIRE_OK(chat);
  Subscription sub = f.bus->Subscribe([&](const std::shared_ptr<const Event>& e) {
    if (e->type == EventType::kMessage) f.store->ReadMessages(e->chat, 0, 1).status().IgnoreError();
  });
  watch->Reset();
  REQUIRE_OK(f.service->Send(TextMessage(alice, chat->id, "c-1")));
  CHECK(watch->reads_on_writer() > 0);
}

}  // namespace chat::test

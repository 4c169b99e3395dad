// The KvEngine contract (kv.h), on every engine (backends.h: mem://, leveldb:// in a temp dir,
// LIBCHAT_TEST_KV_URI): Get of a missing key is NotFound; a batch applies whole and in order;
// iteration is byte-wise ordered both ways; writes from many threads all land; a durable engine keeps
// what was written across a reopen.
#include <atomic>
#include <thread>
#include <vector>

#include "backends.h"

using namespace chat;

namespace {

class Engine {
 public:
  Engine() : uri_(test::ExpandUri(test::KvEngineUri(), dir_.str())) { Open(); }
  KvEngine& operator*() { return *engine_; }
  KvEngine* operator->() { return engine_.get(); }
  // Closes and opens the same engine again.
  void Open() {
    engine_.reset();
    engine_ = test::RequireOpen(test::TestRegistry().MakeKvEngine(uri_), uri_);
  }
  bool durable() const { return uri_.rfind("mem:", 0) != 0; }

 private:
  test::TempDir dir_;
  std::string uri_;
  std::unique_ptr<KvEngine> engine_;
};

std::vector<std::string> Keys(KvEngine& e, std::string_view from = "") {
  std::vector<std::string> keys;
  auto it = e.NewIterator();
  for (it->Seek(from); it->Valid(); it->Next()) keys.emplace_back(it->key());
  REQUIRE_OK(it->status());
  return keys;
}

}  // namespace

TEST_CASE("kv engine: get, put and delete through batches", "[contract][kv]") {
  Engine e;
  CHECK_CODE(e->Get("a"), StatusCode::kNotFound);
  KvBatch b;
  b.Put("a", "1");
  b.Put("b", "2");
  b.Put("a", "3");  // Later ops of a batch win.
  b.Delete("b");
  b.Put(std::string("z\0y", 3), std::string("\0\xff", 2));  // Keys and values are bytes.
  REQUIRE_OK(e->Write(b, true));
  auto a = e->Get("a");
  REQUIRE_OK(a);
  CHECK(*a == "3");
  CHECK_CODE(e->Get("b"), StatusCode::kNotFound);
  auto z = e->Get(std::string("z\0y", 3));
  REQUIRE_OK(z);
  CHECK(*z == std::string("\0\xff", 2));
  REQUIRE_OK(e->Write(KvBatch{}, false));  // An empty batch is fine.
}

TEST_CASE("kv engine: iterators walk keys in byte-wise order, both ways", "[contract][kv]") {
  Engine e;
  KvBatch b;
  for (std::string k : {"b", "a", "ab", "\x7f", "\x80", "c"}) b.Put(k, "v" + k);
  REQUIRE_OK(e->Write(b, false));
  CHECK(Keys(*e) == std::vector<std::string>{"a", "ab", "b", "c", "\x7f", "\x80"});
  CHECK(Keys(*e, "abc") == std::vector<std::string>{"b", "c", "\x7f", "\x80"});
  auto it = e->NewIterator();
  it->SeekToLast();
  REQUIRE(it->Valid());
  CHECK(it->key() == "\x80");
  CHECK(it->value() == "v\x80");
  it->Prev();
  REQUIRE(it->Valid());
  CHECK(it->key() == "\x7f");
  it->Seek("\xff");  // Past every key.
  CHECK(!it->Valid());
  REQUIRE_OK(it->status());
}

TEST_CASE("kv engine: concurrent writers all land", "[contract][kv]") {
  Engine e;
  std::vector<std::thread> threads;
  // Catch2's assertions are not thread-safe (a REQUIRE in these threads crashed the test now and
  // then): the threads count their failures, the test thread checks.
  std::atomic<int> failed{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&e, &failed, t] {
      for (int i = 0; i < 100; ++i) {
        KvBatch b;
        b.Put("t" + std::to_string(t) + "-" + std::to_string(1000 + i), "x");
        if (!e->Write(b, false).ok()) failed.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failed.load() == 0);
  CHECK(Keys(*e).size() == 400);
}

TEST_CASE("kv engine: a durable engine keeps every write across a reopen", "[contract][kv]") {
  Engine e;
  if (!e.durable()) return;  // mem:// lives as long as it is open.
  KvBatch b;
  b.Put("kept", "yes");
  REQUIRE_OK(e->Write(b, true));
  KvBatch d;
  d.Delete("kept");
  d.Put("after", "1");
  REQUIRE_OK(e->Write(d, false));
  e.Open();
  CHECK_CODE(e->Get("kept"), StatusCode::kNotFound);
  auto after = e->Get("after");
  REQUIRE_OK(after);
  CHECK(*after == "1");
}

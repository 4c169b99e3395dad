// Export streams: records reach the sink while the store is still being read, and memory stays
// flat however much there is. This executable counts every allocation (operator new below).
#include <malloc.h>

#include <atomic>
#include <new>
#include <ostream>

#include "migrate_support.h"

namespace {

std::atomic<long> g_live_bytes{0};
std::atomic<long> g_peak_bytes{0};

void Allocated(void* p) {
  long live =
      g_live_bytes.fetch_add(static_cast<long>(malloc_usable_size(p))) + static_cast<long>(malloc_usable_size(p));
  long peak = g_peak_bytes.load();
  while (live > peak && !g_peak_bytes.compare_exchange_weak(peak, live)) {
  }
}

// Counts what it is given and keeps nothing.
class NullBuf final : public std::streambuf {
 public:
  std::size_t bytes = 0;

 protected:
  int_type overflow(int_type c) override {
    ++bytes;
    return traits_type::not_eof(c);
  }
  std::streamsize xsputn(const char*, std::streamsize n) override {
    bytes += static_cast<std::size_t>(n);
    return n;
  }
};

}  // namespace

// Every replaceable form of new and delete but the aligned ones (which pair among themselves), so
// that no allocation is made by one allocator and released by another (ASan checks this).
void* operator new(std::size_t n) {
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p == nullptr) throw std::bad_alloc();
  Allocated(p);
  return p;
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p != nullptr) Allocated(p);
  return p;
}
void* operator new[](std::size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void operator delete(void* p) noexcept {
  if (p == nullptr) return;
  g_live_bytes.fetch_sub(static_cast<long>(malloc_usable_size(p)));
  std::free(p);
}
void operator delete[](void* p) noexcept { operator delete(p); }
void operator delete(void* p, std::size_t) noexcept { operator delete(p); }
void operator delete[](void* p, std::size_t) noexcept { operator delete(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { operator delete(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { operator delete(p); }

using namespace chat;

namespace {

constexpr Seq kMessages = 20000;
constexpr std::size_t kBodyBytes = 500;

// A chat with kMessages messages of kBodyBytes each (~10 MB), written through Import: fast, and
// with no commit queue in the way.
void Fill(Store& store) {
  REQUIRE_OK(store.Import({User{1, "writer", "", "", "", "", 0, false, LastSeenVisibility::kEveryone}}));
  Chat chat;
  chat.id = 1;
  chat.created_by = 1;
  REQUIRE_OK(store.Import({ChatRecord{chat, kMessages, 1000}}));
  Message m;
  m.chat = 1;
  m.sender = 1;
  m.body = std::string(kBodyBytes, 'x');
  for (Seq s = 1; s <= kMessages; ++s) {
    m.seq = s;
    m.id = std::to_string(s);
    m.timestamp = 1000;
    REQUIRE_OK(store.Import({m}));
  }
}

}  // namespace

TEST_CASE("export memory stays flat however many messages there are", "[migrate][dump][stream]") {
  auto store = MakeKvStore(NewMemKvEngine());
  REQUIRE_OK(store);
  Fill(**store);

  NullBuf sink;
  std::ostream out(&sink);
  const long baseline = g_live_bytes.load();
  g_peak_bytes.store(baseline);
  auto counts = ExportDump(**store, out);
  REQUIRE_OK(counts);
  const long growth = g_peak_bytes.load() - baseline;

  CHECK(counts->messages == kMessages);
  CHECK(sink.bytes > kMessages * kBodyBytes);
  INFO("peak growth " << growth << " bytes for a " << sink.bytes << "-byte dump");
  // A handful of records in flight at most: far below the ~10 MB exported.
  CHECK(growth < 256 * 1024);
}

TEST_CASE("export hands records over while it reads, not after", "[migrate][dump][stream]") {
  auto engine = NewMemKvEngine();
  std::atomic<long> steps{0};
  auto store = MakeKvStore(std::make_unique<test::EngineRef>(engine.get(), &steps));
  REQUIRE_OK(store);
  Fill(**store);

  steps.store(0);
  const Status stop = Status::Internal("enough");
  long steps_at_first_message = -1;
  Status s = (*store)->Export([&](const StoreRecord& r) {
    if (!std::holds_alternative<Message>(r.entity)) return Status::Ok();
    steps_at_first_message = steps.load();
    return stop;  // The sink's error ends the export at once.
  });
  CHECK(s.message() == "enough");
  // The store had read a few entries (counters, user, chat, participants) when the first message
  // arrived, not the 20,000 that follow.
  CHECK(steps_at_first_message >= 0);
  CHECK(steps_at_first_message < 50);
}

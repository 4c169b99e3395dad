// The BlobStore contract (blob.h), on every blob backend (backends.h: mem://, file:// in a temp dir,
// LIBCHAT_TEST_BLOB_URI): a blob is visible only once committed with its checksum, ids are unique and
// checked, removal works; and the file backend cleans up after a crashed upload.
#include <algorithm>
#include <filesystem>
#include <optional>

#include "backends.h"
#include "crypto.h"

using namespace chat;

namespace {

// A fresh blob store of the backend under test, in `dir` if it is on disk, in a database of its own
// (dropped at the end) on the run's server for a server backend.
struct Backend {
  Backend() {
    std::string uri = test::BlobUri();
    const auto servers = test::ServerStoreBackends();
    if (std::find(servers.begin(), servers.end(), uri) != servers.end()) {
      name = uri;
      server = test::NewServerStore(name);
      uri = server->uri;
    }
    uri = test::ExpandUri(uri, dir.str());
    store = test::RequireOpen(test::TestRegistry().MakeBlob(uri), uri);
  }
  ~Backend() {
    store.reset();  // Its connections first: the database is dropped next.
    if (server) test::ReleaseServerStore(name, *server);
  }
  BlobStore* operator->() const { return store.get(); }

  test::TempDir dir;
  std::string name;
  std::optional<test::ServerStore> server;
  std::unique_ptr<BlobStore> store;
};

}  // namespace

TEST_CASE("a blob becomes visible only when committed with a matching checksum", "[contract][blob]") {
  Backend store;
  std::string data(300000, 'z');
  const std::string sum = detail::Sha256Hex(data);

  auto w = store->NewWriter("blob1");
  REQUIRE_OK(w);
  REQUIRE_OK((*w)->Write(std::string_view(data).substr(0, 1000)));
  CHECK_CODE(store->Open("blob1"), StatusCode::kNotFound);  // Not visible while written.
  REQUIRE_OK((*w)->Write(std::string_view(data).substr(1000)));
  REQUIRE_OK((*w)->Commit(sum));
  auto r = store->Open("blob1");
  REQUIRE_OK(r);
  CHECK((*r)->size() == data.size());
  auto part = (*r)->ReadAt(299990, 100);
  REQUIRE_OK(part);
  CHECK(*part == std::string(10, 'z'));
  CHECK_CODE(store->NewWriter("blob1"), StatusCode::kAlreadyExists);

  auto bad = store->NewWriter("blob2");
  REQUIRE_OK(bad);
  REQUIRE_OK((*bad)->Write("abc"));
  CHECK_CODE((*bad)->Commit(sum), StatusCode::kInvalidArgument);
  CHECK_CODE(store->Open("blob2"), StatusCode::kNotFound);

  {  // A writer dropped without commit (a crashed upload) leaves nothing.
    auto dropped = store->NewWriter("blob3");
    REQUIRE_OK(dropped);
    REQUIRE_OK((*dropped)->Write("partial"));
  }
  CHECK_CODE(store->Open("blob3"), StatusCode::kNotFound);
  REQUIRE_OK(store->Remove("blob1"));
  CHECK_CODE(store->Open("blob1"), StatusCode::kNotFound);
  CHECK_CODE(store->NewWriter("../etc"), StatusCode::kInvalidArgument);
}

TEST_CASE("an aborted blob is not visible, and reads past the end are empty", "[contract][blob]") {
  Backend store;
  {
    auto w = store->NewWriter("aborted");
    REQUIRE_OK(w);
    REQUIRE_OK((*w)->Write("ab"));
    (*w)->Abort();
  }
  CHECK_CODE(store->Open("aborted"), StatusCode::kNotFound);
  auto w = store->NewWriter("small");
  REQUIRE_OK(w);
  REQUIRE_OK((*w)->Write("abc"));
  REQUIRE_OK((*w)->Commit(detail::Sha256Hex("abc")));
  auto r = store->Open("small");
  REQUIRE_OK(r);
  auto all = (*r)->ReadAt(0, 10);
  REQUIRE_OK(all);
  CHECK(*all == "abc");
  auto past = (*r)->ReadAt(3, 10);
  REQUIRE_OK(past);
  CHECK(past->empty());
  CHECK_CODE(store->Remove("never-written"), StatusCode::kNotFound);
}

TEST_CASE("a blob of several chunks reads back at any offset, across chunk edges", "[contract][blob]") {
  Backend store;
  std::string data;
  for (int i = 0; i < 700 * 1024; ++i) data.push_back(static_cast<char>('a' + (i * 7 + i / 1000) % 26));
  auto w = store->NewWriter("big");
  REQUIRE_OK(w);
  // Uneven pieces, as an upload arrives.
  for (std::size_t off = 0; off < data.size(); off += 100003) REQUIRE_OK((*w)->Write(std::string_view(data).substr(off, 100003)));
  REQUIRE_OK((*w)->Commit(detail::Sha256Hex(data)));
  auto r = store->Open("big");
  REQUIRE_OK(r);
  CHECK((*r)->size() == data.size());
  for (std::uint64_t off : {0ull, 1ull, 262143ull, 262144ull, 262100ull, 524287ull, 700ull * 1024 - 5}) {
    INFO("offset " << off);
    auto part = (*r)->ReadAt(off, 300000);
    REQUIRE_OK(part);
    CHECK(*part == data.substr(off, 300000));
  }
  std::string all;
  for (std::uint64_t off = 0;;) {
    auto part = (*r)->ReadAt(off, 65536);
    REQUIRE_OK(part);
    if (part->empty()) break;
    off += part->size();
    all += *part;
  }
  CHECK(all == data);
  // Empty blobs exist too.
  auto e = store->NewWriter("empty");
  REQUIRE_OK(e);
  REQUIRE_OK((*e)->Commit(detail::Sha256Hex("")));
  auto er = store->Open("empty");
  REQUIRE_OK(er);
  CHECK((*er)->size() == 0);
  REQUIRE_OK(store->Remove("big"));
  CHECK_CODE(store->Open("big"), StatusCode::kNotFound);
}

// file:// only: what a crash leaves on disk.
TEST_CASE("temp files of a crashed upload are removed when the file blob store opens", "[contract][blob]") {
  test::TempDir dir;
  std::filesystem::create_directories(dir.path() / "tmp");
  test::WriteFile(dir.path() / "tmp" / "half.1234", "half a video");
  auto store = NewFileBlobStore(dir.str());
  REQUIRE_OK(store);
  CHECK(std::filesystem::is_empty(dir.path() / "tmp"));
}

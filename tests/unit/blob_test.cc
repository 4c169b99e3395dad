#include <filesystem>
#include <fstream>

#include "crypto.h"
#include "test_support.h"

using namespace chat;

namespace {

std::string Backend() { return GENERATE(as<std::string>{}, "mem", "file"); }

std::unique_ptr<BlobStore> Make(const std::string& backend, const test::TempDir& dir) {
  if (backend == "mem") return NewMemBlobStore();
  auto s = NewFileBlobStore(dir.str());
  REQUIRE_OK(s);
  return std::move(*s);
}

}  // namespace

TEST_CASE("a blob becomes visible only when committed with a matching checksum", "[unit][blob]") {
  test::TempDir dir;
  auto store = Make(Backend(), dir);
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

TEST_CASE("temp files of a crashed upload are removed when the file blob store opens", "[unit][blob]") {
  test::TempDir dir;
  std::filesystem::create_directories(dir.path() / "tmp");
  { std::ofstream(dir.path() / "tmp" / "half.1234") << "half a video"; }
  auto store = NewFileBlobStore(dir.str());
  REQUIRE_OK(store);
  CHECK(std::filesystem::is_empty(dir.path() / "tmp"));
}

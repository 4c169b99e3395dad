// Schema versions: a sample migration (version 1 -> a test version 2 that really rewrites records)
// applied to a store written by this build; then again, as a no-op.
#include <cctype>

#include "codec.h"
#include "keys.h"
#include "migrate_support.h"

using namespace chat;
namespace keys = chat::detail::keys;

namespace {

Status ForEach(KvEngine& engine, const std::string& prefix,
               const std::function<Status(std::string_view, std::string_view)>& fn) {
  auto it = engine.NewIterator();
  for (it->Seek(prefix); it->Valid() && it->key().substr(0, prefix.size()) == prefix; it->Next()) {
    LIBCHAT_RETURN_IF_ERROR(fn(it->key(), it->value()));
  }
  return it->status();
}

// The sample: version 2 keeps e-mail addresses lower-case, and keys device cursors chat-first
// ("dcv2/<chat><device>") so that all cursors of a chat are one range. A value rewrite and a key move,
// both idempotent: a rewritten e-mail stays as it is, and moved cursors are no longer under "dc/".
Migration SampleMigration() {
  return {1, 2, "lower-case e-mail; device cursors keyed by chat", [](KvEngine& engine, KvBatch* batch) -> Status {
            LIBCHAT_RETURN_IF_ERROR(
                ForEach(engine, keys::UserPrefix(), [&](std::string_view k, std::string_view v) -> Status {
                  LIBCHAT_ASSIGN_OR_RETURN(User u, detail::DecodeUser(v));
                  std::string lower = u.email;
                  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                  if (lower == u.email) return Status::Ok();
                  u.email = lower;
                  batch->Put(std::string(k), detail::EncodeUser(u));
                  return Status::Ok();
                }));
            const std::string prefix = keys::DeviceCursorsPrefix();
            return ForEach(engine, prefix, [&](std::string_view k, std::string_view v) {
              std::string moved = "dcv2/";
              keys::AppendBE(&moved, keys::ReadBE(k, prefix.size() + 8));
              keys::AppendBE(&moved, keys::ReadBE(k, prefix.size()));
              batch->Put(moved, std::string(v));
              batch->Delete(std::string(k));
              return Status::Ok();
            });
          }};
}

std::size_t CountPrefix(KvEngine& engine, const std::string& prefix) {
  std::size_t n = 0;
  REQUIRE_OK(ForEach(engine, prefix, [&](std::string_view, std::string_view) {
    ++n;
    return Status::Ok();
  }));
  return n;
}

// A store written by this build through the service, closed; its engine kept.
struct WrittenStore {
  std::unique_ptr<KvEngine> engine = NewMemKvEngine();
  std::size_t cursors = 0;

  WrittenStore() {
    {
      ManualClock clock;
      auto store = MakeKvStore(std::make_unique<test::EngineRef>(engine.get()));
      REQUIRE_OK(store);
      ServiceOptions opts;
      opts.clock = &clock;
      opts.password_cost = PasswordCost::kMinimum;
      auto svc = ChatService::Create(opts, std::shared_ptr<Store>(std::move(*store)), NewInProcBus());
      REQUIRE_OK(svc);
      REQUIRE_OK((*svc)->Register({"ann", "password-ann", "Ann", "Ann@Example.ORG", ""}));
      REQUIRE_OK((*svc)->Register({"ben", "password-ben", "Ben", "ben@example.org", ""}));
      auto a = (*svc)->Login("ann", "password-ann", {"phone", "p"});
      auto b = (*svc)->Login("ben", "password-ben", {"phone", "p"});
      REQUIRE_OK(a);
      REQUIRE_OK(b);
      auto chat = (*svc)->CreateDirect(a->user.id, b->user.id);
      REQUIRE_OK(chat);
      REQUIRE_OK((*svc)->Send({a->user.id, a->device.id, chat->id, "m1", MessageKind::kText, "hi", {}, 0}));
      REQUIRE_OK((*svc)->Ack(b->user.id, b->device.id, chat->id, 2));
      REQUIRE_OK((*svc)->Ack(a->user.id, a->device.id, chat->id, 2));
    }
    // Counted once the store is closed: cursors are written behind, and closing flushes them.
    cursors = CountPrefix(*engine, keys::DeviceCursorsPrefix());
  }
};

MigrateOptions Sample() {
  MigrateOptions o;
  o.migrations = {SampleMigration()};
  o.target = 2;
  return o;
}

}  // namespace

TEST_CASE("this build needs no migration and stamps new stores", "[migrate][schema]") {
  CHECK(BuiltinMigrations().empty());
  CHECK(kSchemaVersion == 1);
  WrittenStore w;
  auto status = MigrationStatus(*w.engine);
  REQUIRE_OK(status);
  CHECK(status->current == kSchemaVersion);
  CHECK(status->up_to_date());
  CHECK(status->pending.empty());
  const std::string before = test::EngineSnapshot(*w.engine);
  auto up = MigrateUp(*w.engine);
  REQUIRE_OK(up);
  CHECK(up->applied.empty());
  CHECK(test::EngineSnapshot(*w.engine) == before);
}

TEST_CASE("a sample migration rewrites a store written by this build, once", "[migrate][schema]") {
  WrittenStore w;
  REQUIRE(w.cursors == 2);

  auto status = MigrationStatus(*w.engine, Sample());
  REQUIRE_OK(status);
  CHECK(status->current == 1);
  CHECK(status->target == 2);
  REQUIRE(status->pending.size() == 1);
  CHECK(status->pending[0].from == 1);
  CHECK(status->pending[0].to == 2);

  std::vector<int> steps;
  MigrateOptions options = Sample();
  options.on_step = [&](const MigrationStep& s) { steps.push_back(s.to); };
  auto up = MigrateUp(*w.engine, options);
  REQUIRE_OK(up);
  CHECK(up->from == 1);
  CHECK(up->to == 2);
  CHECK(up->applied.size() == 1);
  CHECK(steps == std::vector<int>{2});

  // The records really changed, and the version with them.
  auto schema = w.engine->Get(keys::kSchema);
  REQUIRE_OK(schema);
  CHECK(*schema == "2");
  auto ann = w.engine->Get(keys::User(1));
  REQUIRE_OK(ann);
  auto decoded = detail::DecodeUser(*ann);
  REQUIRE_OK(decoded);
  CHECK(decoded->email == "ann@example.org");
  CHECK(CountPrefix(*w.engine, keys::DeviceCursorsPrefix()) == 0);
  CHECK(CountPrefix(*w.engine, "dcv2/") == w.cursors);

  // Again: nothing pending, nothing written.
  const std::string after = test::EngineSnapshot(*w.engine);
  auto again = MigrateUp(*w.engine, Sample());
  REQUIRE_OK(again);
  CHECK(again->applied.empty());
  CHECK(test::EngineSnapshot(*w.engine) == after);
  auto st = MigrationStatus(*w.engine, Sample());
  REQUIRE_OK(st);
  CHECK(st->up_to_date());
  // And the step itself is idempotent: run over migrated records it has nothing to change.
  KvBatch batch;
  REQUIRE_OK(SampleMigration().apply(*w.engine, &batch));
  CHECK(batch.empty());
}

TEST_CASE("this build refuses a store migrated past it", "[migrate][schema]") {
  WrittenStore w;
  REQUIRE_OK(MigrateUp(*w.engine, Sample()));
  auto opened = MakeKvStore(std::make_unique<test::EngineRef>(w.engine.get()));
  CHECK_CODE(opened, StatusCode::kFailedPrecondition);
  CHECK(opened.status().message().find("schema version 2 is newer than this build's (1); upgrade libchat") !=
        std::string::npos);
  auto status = MigrationStatus(*w.engine);
  REQUIRE_OK(status);
  CHECK(status->newer());
  CHECK_CODE(MigrateUp(*w.engine), StatusCode::kFailedPrecondition);
}

TEST_CASE("a failing step leaves the store as it was", "[migrate][schema]") {
  WrittenStore w;
  MigrateOptions options = Sample();
  options.migrations.push_back({2, 3, "fails", [](KvEngine&, KvBatch* batch) {
                                  batch->Put("junk", "x");
                                  return Status::Unavailable("disk on fire");
                                }});
  options.target = 3;
  auto up = MigrateUp(*w.engine, options);
  CHECK_CODE(up, StatusCode::kUnavailable);
  CHECK(up.status().message().find("migration 2 -> 3 (fails): disk on fire") != std::string::npos);
  // The first step landed whole; the second not at all.
  auto schema = w.engine->Get(keys::kSchema);
  REQUIRE_OK(schema);
  CHECK(*schema == "2");
  CHECK_CODE(w.engine->Get("junk"), StatusCode::kNotFound);
}

TEST_CASE("migration paths must be complete", "[migrate][schema]") {
  WrittenStore w;
  MigrateOptions gap = Sample();
  gap.target = 3;
  auto status = MigrationStatus(*w.engine, gap);
  CHECK_CODE(status, StatusCode::kFailedPrecondition);
  CHECK(status.status().message().find("no migration from schema version 2") != std::string::npos);
  const std::string before = test::EngineSnapshot(*w.engine);
  CHECK_CODE(MigrateUp(*w.engine, gap), StatusCode::kFailedPrecondition);
  CHECK(test::EngineSnapshot(*w.engine) == before);  // Planned before anything runs.

  MigrateOptions twice = Sample();
  twice.migrations.push_back(SampleMigration());
  CHECK_CODE(MigrateUp(*w.engine, twice), StatusCode::kInvalidArgument);
}

TEST_CASE("an empty engine has nothing to migrate, and data without a version is corrupt", "[migrate][schema]") {
  auto engine = NewMemKvEngine();
  auto status = MigrationStatus(*engine);
  REQUIRE_OK(status);
  CHECK(status->empty());
  auto up = MigrateUp(*engine, Sample());
  REQUIRE_OK(up);
  CHECK(up->from == 0);
  CHECK(test::EngineSnapshot(*engine).empty());

  KvBatch b;
  b.Put(keys::User(1), "x");
  REQUIRE_OK(engine->Write(b, false));
  CHECK_CODE(MigrationStatus(*engine), StatusCode::kCorruption);
  b.Clear();
  b.Put(std::string(keys::kSchema), "one");
  REQUIRE_OK(engine->Write(b, false));
  CHECK_CODE(MigrateUp(*engine), StatusCode::kCorruption);
}

// This build's migration steps. A change to the key layout or to a record encoding (codec.h) raises
// kSchemaVersion in store.h and adds the step from the previous version here, e.g.
//
//   {1, 2, "message records gain an edited_at field",
//    [](KvEngine& engine, KvBatch* batch) { /* read every m/ record, put it in format 2 */ }},
//
// with a test that applies it to a store written by the previous version (see
// tests/migrate/migrations_test.cc for the pattern) and checks that a second run changes nothing.
#include "migrations.h"

#include "keys.h"

namespace chat::detail {

Result<int> ReadSchemaVersion(KvEngine& engine) {
  auto v = engine.Get(keys::kSchema);
  if (!v.ok()) {
    if (v.error().IsNotFound()) return 0;
    return v.error();
  }
  int version = 0;
  bool digits = !v->empty() && v->size() <= 9;
  for (char c : *v) {
    if (c < '0' || c > '9') {
      digits = false;
      break;
    }
    version = version * 10 + (c - '0');
  }
  // Versions start at 1: a recorded 0 is as damaged as text.
  if (!digits || version == 0) {
    return Status::Corruption(engine.Describe() + ": schema version '" + *v + "' is not a version number");
  }
  return version;
}

std::string SchemaVersionValue(int version) { return std::to_string(version); }

// Version 1 is the first layout: nothing to migrate from yet.
std::vector<Migration> MakeBuiltinMigrations() { return {}; }

}  // namespace chat::detail

// The schema version record and this build's migration steps (private to libchat::core).
#pragma once

#include <string>
#include <vector>

#include "libchat/kv.h"
#include "libchat/migrate.h"
#include "libchat/result.h"

namespace chat::detail {

// The version under meta/schema: 0 if absent, Corruption if it is not a decimal number.
Result<int> ReadSchemaVersion(KvEngine& engine);
// The value stored under meta/schema for `version` (decimal text, as KvStore::Open writes it).
std::string SchemaVersionValue(int version);

// The steps of this build, ordered by `from` (BuiltinMigrations() returns them).
std::vector<Migration> MakeBuiltinMigrations();

}  // namespace chat::detail

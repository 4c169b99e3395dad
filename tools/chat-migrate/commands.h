// The commands of chat-migrate, each from parsed arguments to a report: main() only parses flags,
// picks one and prints what it returns.
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "libchat/registry.h"

namespace chat::migrate {

// What a command did, for people (text) and for scripts (json, printed with --json).
struct Report {
  std::string text;
  nlohmann::ordered_json json;
};

// Where the store's schema stands and what `up` would apply. Reads only. Key-value stores (leveldb,
// mem) through their migrations (migrate.h); databases (postgres) through their schema tool.
Result<Report> RunStatus(const Registry& registry, const Uri& store);
// Applies the pending migrations up to `target` (-1: this build's version); progress lines go to
// `progress`.
Result<Report> RunUp(const Registry& registry, const Uri& store, std::ostream& progress, int target = -1);
// Reverts schema steps down to `target` (0: no schema left). Databases only: NotSupported for a
// key-value store, whose migrations go up only.
Result<Report> RunDown(const Registry& registry, const Uri& store, std::ostream& progress, int target);
// The store's version and every step this build knows.
Result<Report> RunVersions(const Registry& registry, const Uri& store);
// Writes a dump of `from` to `out_path`, or to standard output if it is empty. A file appears only
// once complete (written as OUT.partial, then renamed).
Result<Report> RunExport(const Registry& registry, const Uri& from, const std::string& out_path);
// Reads a dump from `in_path`, or from standard input if it is empty, into the fresh store `to`.
Result<Report> RunImport(const Registry& registry, const Uri& to, const std::string& in_path);
// Export piped into import in-process, `from` into the fresh store `to`, verified: the target's export
// must hash to the source's before it is committed. Into a database that already holds exactly the
// source's content, does nothing (a rerun); one holding anything else is FailedPrecondition.
Result<Report> RunCopy(const Registry& registry, const Uri& from, const Uri& to);

}  // namespace chat::migrate

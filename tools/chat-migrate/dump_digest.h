// DumpDigest: the SHA-256 of a store's export (its dump's bytes) and its counts, computed as the dump
// streams, without holding it. Two stores hold the same content exactly when their digests are
// equal: a dump does not depend on the store's kind (docs/storage.md, "Export, import and copy").
#pragma once

#include <string>

#include "libchat/dump.h"

namespace chat::migrate {

struct Digest {
  std::string sha256;  // Lower-case hex.
  DumpCounts counts;
};

// Exports `store` into a hash. The store's error, as ExportDump.
Result<Digest> DumpDigest(Store& store);

}  // namespace chat::migrate

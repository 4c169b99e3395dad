// StoreRecord <-> one line of JSON, the record lines of an export (docs/storage.md, "Export format and
// schema versions"). Strict both ways: every field is written, and read back with its type checked.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "libchat/result.h"
#include "libchat/store_record.h"

namespace chat::detail {

// One JSON object without a newline, "type" first, then the entity's fields in a fixed order, so
// that the same record always gives the same bytes. Text that is not valid UTF-8 is written
// base64-encoded under the field's name + "_b64". Corruption if an enum holds a value with no name.
Result<std::string> EncodeRecordJson(const StoreRecord& record);

// Reads a line written by EncodeRecordJson. InvalidArgument naming the problem: not JSON, no or an
// unknown "type", a missing, mistyped or unknown field, an enum name it does not know.
Result<StoreRecord> DecodeRecordJson(std::string_view line);
// The same for a parsed object (the dump reader parses each line once, then dispatches on "type").
Result<StoreRecord> DecodeRecord(const nlohmann::json& object);

}  // namespace chat::detail

// Protocol v1 codec: JSON text frames <-> typed values (docs/protocol.md). The only place that touches
// nlohmann::json's throwing API: every parse error and type mismatch becomes a WireError here, so that
// no exception reaches a session or crosses a libchat API.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "libchat/service.h"
#include "libchat/status.h"
#include "libchat/types.h"

namespace chat::detail {

using Json = nlohmann::json;

constexpr int kProtocolVersion = 1;
// Longest string request id (an integer id is any value from 0 to 2^64-1).
constexpr std::size_t kMaxRequestIdBytes = 128;

// Error codes of the protocol itself, next to the StatusCodeName() codes of the service.
inline constexpr std::string_view kBadRequest = "bad_request";          // Malformed JSON, wrong types, missing fields.
inline constexpr std::string_view kUnknownCommand = "unknown_command";
inline constexpr std::string_view kFrameTooLarge = "frame_too_large";
inline constexpr std::string_view kUnsupportedVersion = "unsupported_version";

struct WireError {
  std::string code;
  std::string message;
  std::int64_t retry_after_ms = -1;  // Sent as retryAfterMs when >= 0.
};

// The wire form of a service error: its StatusCodeName and message; retryable codes carry a hint.
WireError ToWireError(const Status& status);

struct Request {
  Json id;          // A string or an integer, echoed in the response.
  std::string cmd;
  Json args;        // The whole request object; commands read their fields from it.
};

// Parses one text frame as a request. On failure returns false, fills *error (bad_request) and
// *error_id with the request's id if it could be read (null otherwise).
bool ParseRequest(std::string_view text, Request* out, WireError* error, Json* error_id);

// Serialises without ever throwing: invalid UTF-8 (which validated input cannot hold) is replaced.
std::string Dump(const Json& j);
// {"id":...,"ok":true,"result":...}
std::shared_ptr<const std::string> EncodeResult(const Json& id, const Json& result);
// {"id":...,"ok":false,"error":{"code":...,"message":...,"retryAfterMs"?:...}}
std::shared_ptr<const std::string> EncodeError(const Json& id, const WireError& error);
// {"event":name,"data":...}
std::shared_ptr<const std::string> EncodeEvent(std::string_view name, const Json& data);

// camelCase wire forms of the domain types.
Json ToJson(const Message& m);
Json ToJson(const Chat& c);
Json ToJson(const Device& d);
Json ToJson(const Participant& p);
Json ToJson(const ChatSummary& s);
Json ToJson(const ReceiptCursor& r);
Json ToJson(const Attachment& a);
// `self`: the user's own record (adds email and privacy setting).
Json ToJson(const User& u, bool self);

// Reads the fields of a request without exceptions. Each getter returns the value, or `fallback` when
// the field is absent or null; a missing required field or a wrong type records the first error
// (bad_request naming the field) and returns the fallback. Check ok() after reading.
class Args {
 public:
  explicit Args(const Json& object) : object_(object) {}

  // Present and not null.
  bool Has(const char* key) const;
  std::string Str(const char* key, bool required, std::string fallback = {});
  std::uint64_t U64(const char* key, bool required, std::uint64_t fallback = 0);
  bool Bool(const char* key, bool required, bool fallback = false);
  // nullptr when absent (or on error).
  const Json* Object(const char* key, bool required);
  const Json* Array(const char* key, bool required);
  std::vector<std::uint64_t> U64Array(const char* key, bool required);
  std::vector<std::string> StrArray(const char* key, bool required);

  bool ok() const { return error_.code.empty(); }
  const WireError& error() const { return error_; }
  // Records a bad_request error (the first one wins).
  void Fail(std::string message);

 private:
  const Json* Find(const char* key, bool required);
  const Json& object_;
  WireError error_;
};

// Reads an unsigned integer from a JSON value; false if it is not one.
bool GetU64(const Json& j, std::uint64_t* out);

}  // namespace chat::detail

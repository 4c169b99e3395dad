#include "api.h"

#include <algorithm>
#include <charconv>

#include "json_depth.h"

namespace chat::admin {
namespace {

// Parses all of `text` as a decimal unsigned number: no sign, no spaces, no overflow.
std::optional<std::uint64_t> ParseDecimal(std::string_view text) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

const char* TypeName(const Json& j) {
  if (j.is_null()) return "null";
  if (j.is_boolean()) return "a boolean";
  if (j.is_number_unsigned()) return "a whole number";
  if (j.is_number_integer()) return "a negative number";
  if (j.is_number()) return "a fractional number";
  if (j.is_string()) return "a string";
  if (j.is_array()) return "an array";
  return "an object";
}

}  // namespace

Json ApiError::ToJson() const { return Json{{"error", {{"code", code_}, {"message", message_}}}}; }

ApiError Malformed(std::string message) { return ApiError(400, "malformed_request", std::move(message)); }

ApiError FromStatus(const Status& s) {
  int http = 500;
  switch (s.code()) {
    case StatusCode::kOk:  // Not an error; a caller bug if it gets here.
    case StatusCode::kInternal:
    case StatusCode::kCorruption:
      http = 500;
      break;
    case StatusCode::kInvalidArgument:
      http = 422;  // Well-formed, but the service refuses the values (e.g. a username too short).
      break;
    case StatusCode::kNotFound:
      http = 404;
      break;
    case StatusCode::kAlreadyExists:
    case StatusCode::kFailedPrecondition:
      http = 409;  // Conflicts with the state: taken name, device limit, non-empty backup target.
      break;
    case StatusCode::kPermissionDenied:
      http = 403;
      break;
    case StatusCode::kUnauthenticated:
      http = 401;
      break;
    case StatusCode::kUnavailable:
    case StatusCode::kResourceExhausted:
      http = 503;  // Retryable.
      break;
    case StatusCode::kNotSupported:
      http = 501;  // This store cannot do it (e.g. a backup of mem://).
      break;
  }
  return ApiError(http, std::string(StatusCodeName(s.code())), s.message());
}

// ------------------------------------------------------------------ Query

Query::Query(const httplib::Request& req, std::initializer_list<std::string_view> allowed) : req_(req) {
  for (const auto& [name, value] : req.params) {
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      std::string known;
      for (auto a : allowed) known += (known.empty() ? "" : ", ") + std::string(a);
      throw Malformed("unknown query parameter '" + name + "'" +
                      (known.empty() ? std::string(": this endpoint takes none") : " (takes: " + known + ")"));
    }
    if (req.get_param_value_count(name.c_str()) > 1) throw Malformed("query parameter '" + name + "' given twice");
  }
}

std::optional<std::uint64_t> Query::OptionalUInt(const std::string& name, std::uint64_t min, std::uint64_t max) const {
  if (!req_.has_param(name.c_str())) return std::nullopt;
  auto v = ParseDecimal(req_.get_param_value(name.c_str()));
  if (!v || *v < min || *v > max) {
    throw Malformed("query parameter '" + name + "' must be a whole number from " + std::to_string(min) + " to " +
                    std::to_string(max));
  }
  return v;
}

std::uint64_t Query::UInt(const std::string& name, std::uint64_t fallback, std::uint64_t min,
                          std::uint64_t max) const {
  return OptionalUInt(name, min, max).value_or(fallback);
}

bool Query::Flag(const std::string& name, bool fallback) const {
  if (!req_.has_param(name.c_str())) return fallback;
  const std::string v = req_.get_param_value(name.c_str());
  if (v == "1" || v == "true") return true;
  if (v == "0" || v == "false") return false;
  throw Malformed("query parameter '" + name + "' must be 1 or 0");
}

// ------------------------------------------------------------------ Body

Body::Body(const httplib::Request& req) {
  if (req.body.empty()) {
    json_ = Json::object();
    return;
  }
  if (!detail::JsonDepthWithin(req.body)) {
    throw Malformed("the body nests deeper than " + std::to_string(detail::kMaxJsonDepth) + " levels");
  }
  // Without exceptions: a parse error yields a discarded value.
  json_ = Json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (json_.is_discarded()) throw Malformed("the body is not valid JSON");
  if (!json_.is_object()) throw Malformed(std::string("the body must be a JSON object, not ") + TypeName(json_));
}

bool Body::Has(const std::string& name) const { return json_.contains(name); }

const Json* Body::Field(const std::string& name, const char* type) {
  read_.push_back(name);
  auto it = json_.find(name);
  if (it == json_.end()) return nullptr;
  const bool ok = std::string_view(type) == "string"   ? it->is_string()
                  : std::string_view(type) == "uint"   ? it->is_number_unsigned()
                  : std::string_view(type) == "bool"   ? it->is_boolean()
                                                       : false;
  if (!ok) {
    const char* want = std::string_view(type) == "string" ? "a string"
                       : std::string_view(type) == "uint" ? "a whole number (0 or more)"
                                                          : "true or false";
    throw Malformed("field '" + name + "' must be " + want + ", not " + TypeName(*it));
  }
  return &*it;
}

std::string Body::RequiredString(const std::string& name) {
  const Json* f = Field(name, "string");
  if (f == nullptr) throw Malformed("field '" + name + "' is required");
  return f->get<std::string>();
}

std::string Body::String(const std::string& name, std::string fallback) {
  const Json* f = Field(name, "string");
  return f == nullptr ? std::move(fallback) : f->get<std::string>();
}

std::uint64_t Body::RequiredUInt(const std::string& name) {
  auto v = OptionalUInt(name);
  if (!v) throw Malformed("field '" + name + "' is required");
  return *v;
}

std::optional<std::uint64_t> Body::OptionalUInt(const std::string& name) {
  const Json* f = Field(name, "uint");
  if (f == nullptr) return std::nullopt;
  return f->get<std::uint64_t>();
}

bool Body::Bool(const std::string& name, bool fallback) {
  const Json* f = Field(name, "bool");
  return f == nullptr ? fallback : f->get<bool>();
}

void Body::Finish() {
  for (const auto& [name, value] : json_.items()) {
    if (std::find(read_.begin(), read_.end(), name) == read_.end()) {
      std::string known;
      for (const auto& r : read_) known += (known.empty() ? "" : ", ") + r;
      throw Malformed("unknown field '" + name + "'" +
                      (known.empty() ? std::string(": this endpoint takes none") : " (takes: " + known + ")"));
    }
  }
}

std::uint64_t PathId(const httplib::Request& req, std::size_t match, const char* what) {
  auto v = ParseDecimal(req.matches[match].str());
  if (!v || *v == 0) throw Malformed(std::string(what) + " id must be a whole number from 1 to 2^64-1");
  return *v;
}

}  // namespace chat::admin

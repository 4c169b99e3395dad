#include "record_json.h"

#include <sodium.h>

#include <limits>
#include <set>
#include <type_traits>

#include "schema.h"
#include "utf8.h"

namespace chat::detail {
namespace {

using codec::Field;
using codec::Schema;
using nlohmann::json;
using nlohmann::ordered_json;

std::string Base64(std::string_view bytes) {
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // The encoder writes a terminating NUL.
  return out;
}

bool FromBase64(std::string_view text, std::string* out) {
  out->assign(text.size() / 4 * 3 + 3, '\0');
  std::size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out->data()), out->size(), text.data(), text.size(), nullptr,
                        &len, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != text.data() + text.size()) {
    return false;
  }
  out->resize(len);
  return true;
}

// ---------------------------------------------------------------- encoding
// Builds one object in field order. Text goes in as a JSON string when it is UTF-8 (nearly always:
// the service validates it) and as base64 under name_b64 otherwise, so that any bytes round-trip.
class Out {
 public:
  explicit Out(std::string_view type) : type_(type) { j_["type"] = type; }
  void Text(const char* name, const std::string& v) {
    if (IsValidUtf8(v)) {
      j_[name] = v;
    } else {
      j_[std::string(name) + "_b64"] = Base64(v);
    }
  }
  void TextList(const char* name, const std::vector<std::string>& v) {
    bool utf8 = true;
    for (const auto& s : v) utf8 = utf8 && IsValidUtf8(s);
    ordered_json list = ordered_json::array();
    for (const auto& s : v) list.push_back(utf8 ? s : Base64(s));
    j_[utf8 ? std::string(name) : std::string(name) + "_b64"] = std::move(list);
  }
  // Enums are written by name; a value without one (a damaged record) cannot round-trip.
  template <typename E>
  void Enum(const char* name, E v) {
    std::string_view s = ToString(v);
    if (s == "unknown" && error_.ok()) {
      error_ = Status::Corruption(type_ + " record has an unknown " + name + " (" +
                                  std::to_string(static_cast<int>(v)) + ")");
    }
    j_[name] = s;
  }
  // The schema's visitor: each field under its export key, written by its type.
  template <typename V>
  void operator()(const V& v, const Field& f) {
    if constexpr (std::is_same_v<V, std::string>) {
      Text(f.record, v);
    } else if constexpr (std::is_same_v<V, std::vector<std::string>>) {
      TextList(f.record, v);
    } else if constexpr (std::is_enum_v<V>) {
      Enum(f.record, v);
    } else {
      j_[f.record] = v;  // A number or a boolean.
    }
  }
  Result<std::string> Dump() const {
    if (!error_.ok()) return error_;
    return j_.dump(-1, ' ', false, ordered_json::error_handler_t::strict);
  }

 private:
  std::string type_;
  ordered_json j_;
  Status error_;
};

// ---------------------------------------------------------------- decoding
// Reads the fields of one object. The first problem is kept and reported by Finish(), together with
// any field that was never asked for: an unknown field means a newer or damaged dump, and silently
// dropping it would lose data.
class In {
 public:
  In(const json& j, std::string type) : j_(j), type_(std::move(type)) { used_.insert("type"); }

  std::uint64_t U64(const char* name) {
    const json* v = Find(name);
    if (v == nullptr) return 0;
    if (!v->is_number_unsigned()) {
      Fail(name, "a non-negative integer", *v);
      return 0;
    }
    return v->get<std::uint64_t>();
  }
  std::uint32_t U32(const char* name) {
    std::uint64_t v = U64(name);
    if (v > std::numeric_limits<std::uint32_t>::max()) {
      Fail(name, "an integer below 2^32", j_.at(name));
      return 0;
    }
    return static_cast<std::uint32_t>(v);
  }
  std::int64_t I64(const char* name) {
    const json* v = Find(name);
    if (v == nullptr) return 0;
    if (!v->is_number_integer() ||
        (v->is_number_unsigned() && v->get<std::uint64_t>() > std::numeric_limits<std::int64_t>::max())) {
      Fail(name, "a 64-bit integer", *v);
      return 0;
    }
    return v->get<std::int64_t>();
  }
  double Double(const char* name) {
    const json* v = Find(name);
    if (v == nullptr) return 0;
    if (!v->is_number()) {
      Fail(name, "a number", *v);
      return 0;
    }
    return v->get<double>();
  }
  bool Bool(const char* name) {
    const json* v = Find(name);
    if (v == nullptr) return false;
    if (!v->is_boolean()) {
      Fail(name, "true or false", *v);
      return false;
    }
    return v->get<bool>();
  }
  std::string Text(const char* name) {
    const std::string b64 = std::string(name) + "_b64";
    if (j_.contains(b64) && !j_.contains(name)) {
      used_.insert(b64);
      const json& v = j_.at(b64);
      std::string out;
      if (!v.is_string() || !FromBase64(v.get_ref<const std::string&>(), &out)) {
        Fail(b64.c_str(), "a base64 string", v);
        return std::string();
      }
      return out;
    }
    const json* v = Find(name);
    if (v == nullptr) return {};
    if (!v->is_string()) {
      Fail(name, "a string", *v);
      return std::string();
    }
    return v->get<std::string>();
  }
  std::vector<std::string> TextList(const char* name) {
    const std::string b64 = std::string(name) + "_b64";
    const bool encoded = j_.contains(b64) && !j_.contains(name);
    const std::string key = encoded ? b64 : std::string(name);
    const json* v = Find(key.c_str());
    std::vector<std::string> out;
    if (v == nullptr) return out;
    if (!v->is_array()) {
      Fail(key.c_str(), "an array of strings", *v);
      return out;
    }
    for (const auto& item : *v) {
      std::string s;
      if (!item.is_string() || (encoded && !FromBase64(item.get_ref<const std::string&>(), &s))) {
        Fail(key.c_str(), encoded ? "an array of base64 strings" : "an array of strings", *v);
        return out;
      }
      out.push_back(encoded ? std::move(s) : item.get<std::string>());
    }
    return out;
  }
  template <typename E>
  E Enum(const char* name) {
    std::string s = Text(name);
    E e{};
    if (error_.ok() && !Parse(s, &e)) {
      error_ = Status::InvalidArgument(type_ + "." + name + ": unknown value \"" + s + "\"");
    }
    return e;
  }

  // The schema's visitor: each field from its export key, read by its type.
  template <typename V>
  void operator()(V& v, const Field& f) {
    if constexpr (std::is_same_v<V, std::string>) {
      v = Text(f.record);
    } else if constexpr (std::is_same_v<V, std::vector<std::string>>) {
      v = TextList(f.record);
    } else if constexpr (std::is_enum_v<V>) {
      v = Enum<V>(f.record);
    } else if constexpr (std::is_same_v<V, bool>) {
      v = Bool(f.record);
    } else if constexpr (std::is_same_v<V, double>) {
      v = Double(f.record);
    } else if constexpr (std::is_signed_v<V>) {
      v = I64(f.record);
    } else if constexpr (std::is_same_v<V, std::uint32_t>) {
      v = U32(f.record);
    } else {
      v = U64(f.record);
    }
  }

  Status Finish() {
    if (!error_.ok()) return error_;
    for (const auto& [key, value] : j_.items()) {
      if (!used_.count(key)) return Status::InvalidArgument(type_ + ": unknown field \"" + key + "\"");
    }
    return Status::Ok();
  }

 private:
  const json* Find(const char* name) {
    used_.insert(name);
    auto it = j_.find(name);
    if (it == j_.end()) {
      if (error_.ok()) error_ = Status::InvalidArgument(type_ + "." + name + ": missing");
      return nullptr;
    }
    return &*it;
  }
  void Fail(const char* name, const char* expected, const json& got) {
    if (!error_.ok()) return;
    error_ = Status::InvalidArgument(type_ + "." + name + ": expected " + expected + ", got " + got.type_name() +
                                     (got.is_primitive() ? " " + got.dump() : std::string()));
  }

  const json& j_;
  std::string type_;
  std::set<std::string> used_;
  Status error_;
};

// Encodes one entity of the export: "type", then its fields in the schema's order.
template <typename T>
Result<std::string> EncodeEntity(const T& entity) {
  Out out(Schema<T>::kRecordType);
  Schema<T>::Fields(entity, out);
  return out.Dump();
}

// Decodes the entity whose type the line names, or InvalidArgument if none is.
template <std::size_t I = 0>
Result<StoreRecord> DecodeEntity(const json& j, const std::string& type) {
  if constexpr (I == std::variant_size_v<StoreRecord::Entity>) {
    return Status::InvalidArgument("unknown record type \"" + type + "\"");
  } else {
    using T = std::variant_alternative_t<I, StoreRecord::Entity>;
    if (type != Schema<T>::kRecordType) return DecodeEntity<I + 1>(j, type);
    In in(j, type);
    T entity{};
    Schema<T>::Fields(entity, in);
    LIBCHAT_RETURN_IF_ERROR(in.Finish());
    return StoreRecord{std::move(entity)};
  }
}

}  // namespace

Result<std::string> EncodeRecordJson(const StoreRecord& record) {
  try {
    return std::visit([](const auto& entity) { return EncodeEntity(entity); }, record.entity);
  } catch (const json::exception& e) {
    // Not expected: every string was checked to be UTF-8. Kept from crossing the API all the same.
    return Status::Internal(std::string(RecordTypeName(record)) + " record: " + e.what());
  }
}

Result<StoreRecord> DecodeRecordJson(std::string_view line) {
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::InvalidArgument("not valid JSON (a truncated or corrupt line)");
  return DecodeRecord(j);
}

Result<StoreRecord> DecodeRecord(const json& j) {
  if (!j.is_object()) return Status::InvalidArgument("expected a JSON object");
  auto t = j.find("type");
  if (t == j.end() || !t->is_string()) return Status::InvalidArgument("no \"type\" field");
  return DecodeEntity(j, t->get_ref<const std::string&>());
}

}  // namespace chat::detail

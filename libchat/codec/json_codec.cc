#include "json_codec.h"

#include <limits>
#include <type_traits>
#include <vector>

namespace chat::codec {
namespace {

template <typename T>
struct IsOptional : std::false_type {};
template <typename T>
struct IsOptional<std::optional<T>> : std::true_type {};

// ---------------------------------------------------------------- encoding

template <typename J, typename T>
J Encode(const T& entity, Form form);

// Writes each field that `form` shows under its JSON key, into a Json or an OrderedJson.
template <typename J>
class Writer {
 public:
  Writer(J& out, Form form) : out_(out), form_(form) {}

  template <typename V>
  void operator()(const V& value, const Field& f) {
    if (f.json == nullptr || (f.forms & form_) == 0) return;
    out_[f.json] = Value(value);
  }

 private:
  template <typename V>
  J Value(const V& v) const {
    if constexpr (Entity<V>) {
      return Encode<J>(v, form_);
    } else if constexpr (IsOptional<V>::value) {
      return v ? Value(*v) : J(nullptr);
    } else if constexpr (std::is_enum_v<V>) {
      return J(std::string(ToString(v)));
    } else {
      return J(v);
    }
  }

  J& out_;
  const Form form_;
};

template <typename J, typename T>
J Encode(const T& entity, Form form) {
  J out = J::object();
  Schema<T>::Fields(entity, Writer<J>(out, form));
  return out;
}

// ---------------------------------------------------------------- decoding

const char* TypeName(const Json& j) {
  if (j.is_number_integer()) return "integer";
  return j.type_name();
}

// Reads each field the forms show, keeping the first error.
class Reader {
 public:
  Reader(const Json& in, std::uint8_t forms, std::string_view entity) : in_(in), forms_(forms), entity_(entity) {}

  template <typename V>
  void operator()(V& value, const Field& f) {
    if (!error_.ok() || f.json == nullptr || (f.forms & forms_) == 0) return;
    auto it = in_.find(f.json);
    if (it == in_.end() || it->is_null()) return;
    if (const char* expected = Read(*it, &value); expected != nullptr) {
      error_ = Status::InvalidArgument(std::string(entity_) + "." + f.json + ": expected " + expected + ", got " +
                                       TypeName(*it));
    }
  }

  const Status& error() const { return error_; }

 private:
  // Each returns null on success, else what it expected.
  const char* Read(const Json& j, std::uint64_t* out) {
    if (j.is_number_unsigned()) {
      *out = j.get<std::uint64_t>();
    } else if (j.is_number_integer() && j.get<std::int64_t>() >= 0) {
      *out = static_cast<std::uint64_t>(j.get<std::int64_t>());
    } else {
      return "a non-negative integer";
    }
    return nullptr;
  }
  const char* Read(const Json& j, std::uint32_t* out) {
    std::uint64_t v = 0;
    if (Read(j, &v) != nullptr || v > std::numeric_limits<std::uint32_t>::max()) return "an integer below 2^32";
    *out = static_cast<std::uint32_t>(v);
    return nullptr;
  }
  const char* Read(const Json& j, std::int64_t* out) {
    if (!j.is_number_integer() ||
        (j.is_number_unsigned() && j.get<std::uint64_t>() > std::numeric_limits<std::int64_t>::max())) {
      return "a 64-bit integer";
    }
    *out = j.get<std::int64_t>();
    return nullptr;
  }
  const char* Read(const Json& j, double* out) {
    if (!j.is_number()) return "a number";
    *out = j.get<double>();
    return nullptr;
  }
  const char* Read(const Json& j, bool* out) {
    if (!j.is_boolean()) return "true or false";
    *out = j.get<bool>();
    return nullptr;
  }
  const char* Read(const Json& j, std::string* out) {
    if (!j.is_string()) return "a string";
    *out = j.get<std::string>();
    return nullptr;
  }
  const char* Read(const Json& j, std::vector<std::string>* out) {
    if (!j.is_array()) return "an array of strings";
    std::vector<std::string> v;
    v.reserve(j.size());
    for (const Json& e : j) {
      if (!e.is_string()) return "an array of strings";
      v.push_back(e.get<std::string>());
    }
    *out = std::move(v);
    return nullptr;
  }
  template <typename E>
    requires std::is_enum_v<E>
  const char* Read(const Json& j, E* out) {
    if (!j.is_string()) return "a string";
    E e{};
    // A name this build does not know keeps the default (see FromJson).
    if (Parse(j.get_ref<const std::string&>(), &e)) *out = e;
    return nullptr;
  }
  template <typename T>
    requires Entity<T>
  const char* Read(const Json& j, T* out) {
    auto nested = FromJson<T>(j, forms_);
    if (!nested.ok()) {
      // The nested error names its own fields; keep it whole.
      error_ = nested.error();
      return nullptr;
    }
    *out = std::move(*nested);
    return nullptr;
  }
  template <typename T>
  const char* Read(const Json& j, std::optional<T>* out) {
    T v{};
    const char* expected = Read(j, &v);
    if (expected == nullptr && error_.ok()) *out = std::move(v);
    return expected;
  }

  const Json& in_;
  const std::uint8_t forms_;
  const std::string_view entity_;
  Status error_;
};

// The name errors give an entity: its export type, or the C++ name for protocol-only shapes.
template <typename T>
std::string_view EntityName() {
  if constexpr (std::is_same_v<T, Chat>) return "chat";
  else if constexpr (std::is_same_v<T, ChatSummary>) return "chat summary";
  else if constexpr (std::is_same_v<T, Session>) return "session";
  else return Schema<T>::kRecordType;
}

}  // namespace

template <typename T>
Json ToJson(const T& entity, Form form) {
  return Encode<Json>(entity, form);
}

template <typename T>
OrderedJson ToOrderedJson(const T& entity, Form form) {
  return Encode<OrderedJson>(entity, form);
}

template <typename T>
Result<T> FromJson(const Json& json, std::uint8_t forms) {
  if (!json.is_object()) {
    return Status::InvalidArgument(std::string(EntityName<T>()) + ": expected an object, got " + TypeName(json));
  }
  T entity{};
  Reader reader(json, forms, EntityName<T>());
  Schema<T>::Fields(entity, reader);
  if (!reader.error().ok()) return reader.error();
  return entity;
}

std::string Dump(const Json& json) { return json.dump(-1, ' ', false, Json::error_handler_t::replace); }

// The entities of the JSON forms (json_codec.h).
#define LIBCHAT_CODEC_JSON(T)                                      \
  template Json ToJson<T>(const T& entity, Form form);             \
  template OrderedJson ToOrderedJson<T>(const T& entity, Form form); \
  template Result<T> FromJson<T>(const Json& json, std::uint8_t forms);
LIBCHAT_CODEC_JSON(User)
LIBCHAT_CODEC_JSON(UserBan)
LIBCHAT_CODEC_JSON(UserBlock)
LIBCHAT_CODEC_JSON(Device)
LIBCHAT_CODEC_JSON(Chat)
LIBCHAT_CODEC_JSON(Participant)
LIBCHAT_CODEC_JSON(Message)
LIBCHAT_CODEC_JSON(ReceiptCursor)
LIBCHAT_CODEC_JSON(SpamFlag)
LIBCHAT_CODEC_JSON(SpamReport)
LIBCHAT_CODEC_JSON(Attachment)
LIBCHAT_CODEC_JSON(ChatSummary)
LIBCHAT_CODEC_JSON(Session)
#undef LIBCHAT_CODEC_JSON

}  // namespace chat::codec

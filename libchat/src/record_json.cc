#include "record_json.h"

#include <sodium.h>

#include <limits>
#include <set>

#include "utf8.h"

namespace chat::detail {
namespace {

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
  Out& U64(const char* name, std::uint64_t v) {
    j_[name] = v;
    return *this;
  }
  Out& I64(const char* name, std::int64_t v) {
    j_[name] = v;
    return *this;
  }
  Out& Bool(const char* name, bool v) {
    j_[name] = v;
    return *this;
  }
  Out& Double(const char* name, double v) {
    j_[name] = v;
    return *this;
  }
  Out& Text(const char* name, const std::string& v) {
    if (IsValidUtf8(v)) {
      j_[name] = v;
    } else {
      j_[std::string(name) + "_b64"] = Base64(v);
    }
    return *this;
  }
  Out& TextList(const char* name, const std::vector<std::string>& v) {
    bool utf8 = true;
    for (const auto& s : v) utf8 = utf8 && IsValidUtf8(s);
    ordered_json list = ordered_json::array();
    for (const auto& s : v) list.push_back(utf8 ? s : Base64(s));
    j_[utf8 ? std::string(name) : std::string(name) + "_b64"] = std::move(list);
    return *this;
  }
  // Enums are written by name; a value without one (a damaged record) cannot round-trip.
  template <typename E>
  Out& Enum(const char* name, E v) {
    std::string_view s = ToString(v);
    if (s == "unknown" && error_.ok()) {
      error_ = Status::Corruption(type_ + " record has an unknown " + name + " (" +
                                  std::to_string(static_cast<int>(v)) + ")");
    }
    j_[name] = s;
    return *this;
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

struct Encoder {
  Out operator()(const IdCounters& c) const {
    Out o("counters");
    o.U64("next_user", c.next_user).U64("next_device", c.next_device).U64("next_chat", c.next_chat);
    return o;
  }
  Out operator()(const User& u) const {
    Out o("user");
    o.U64("id", u.id)
        .Text("username", u.username)
        .Text("display_name", u.display_name)
        .Text("email", u.email)
        .Text("password_hash", u.password_hash)
        .Text("avatar_url", u.avatar_url)
        .I64("created_at", u.created_at)
        .Bool("disabled", u.disabled)
        .Enum("last_seen_visibility", u.last_seen_visibility);
    return o;
  }
  Out operator()(const UserBan& b) const {
    Out o("ban");
    o.U64("user", b.user).I64("at", b.at).Text("reason", b.reason);
    return o;
  }
  Out operator()(const Invite& i) const {
    Out o("invite");
    o.Text("id", i.id)
        .Text("code_hash", i.code_hash)
        .I64("created_at", i.created_at)
        .I64("expires_at", i.expires_at)
        .U64("max_uses", i.max_uses)
        .U64("uses", i.uses)
        .Text("note", i.note);
    return o;
  }
  Out operator()(const UserBlock& b) const {
    Out o("block");
    o.U64("user", b.user).U64("blocked", b.blocked).I64("since", b.since);
    return o;
  }
  Out operator()(const Device& d) const {
    Out o("device");
    o.U64("id", d.id)
        .U64("user", d.user)
        .Text("kind", d.kind)
        .Text("name", d.name)
        .Text("push_provider", d.push_provider)
        .Text("push_token", d.push_token)
        .Text("token_hash", d.token_hash)
        .I64("token_expires_at", d.token_expires_at)
        .I64("created_at", d.created_at)
        .I64("last_seen", d.last_seen);
    return o;
  }
  Out operator()(const ChatRecord& r) const {
    Out o("chat");
    o.U64("id", r.chat.id)
        .Enum("kind", r.chat.kind)
        .Text("name", r.chat.name)
        .Text("metadata", r.chat.metadata)
        .U64("member_limit", r.chat.member_limit)
        .I64("retention_ms", r.chat.retention_ms)
        .U64("created_by", r.chat.created_by)
        .I64("created_at", r.chat.created_at)
        .U64("head", r.head)
        .I64("last_timestamp", r.last_timestamp);
    return o;
  }
  Out operator()(const Participant& p) const {
    Out o("participant");
    o.U64("chat", p.chat)
        .U64("user", p.user)
        .Enum("role", p.role)
        .I64("joined_at", p.joined_at)
        .U64("joined_seq", p.joined_seq);
    return o;
  }
  Out operator()(const Message& m) const {
    Out o("message");
    o.U64("chat", m.chat)
        .U64("seq", m.seq)
        .Text("id", m.id)
        .U64("sender", m.sender)
        .U64("sender_device", m.sender_device)
        .Text("client_id", m.client_id)
        .Enum("kind", m.kind)
        .Text("body", m.body)
        .TextList("attachments", m.attachments)
        .U64("reply_to", m.reply_to)
        .U64("ref_seq", m.ref_seq)
        .I64("timestamp", m.timestamp)
        .Bool("deleted", m.deleted);
    return o;
  }
  Out operator()(const DeviceCursorRecord& c) const {
    Out o("device_cursor");
    o.U64("device", c.device).U64("chat", c.chat).U64("seq", c.seq);
    return o;
  }
  Out operator()(const ReceiptCursor& r) const {
    Out o("receipt");
    o.U64("chat", r.chat).U64("user", r.user).U64("delivered", r.delivered).U64("read", r.read);
    return o;
  }
  Out operator()(const SpamFlag& f) const {
    Out o("spam_flag");
    o.U64("user", f.user)
        .Double("score", f.score)
        .I64("flagged_at", f.flagged_at)
        .I64("updated_at", f.updated_at)
        .Bool("suspended", f.suspended)
        .TextList("reasons", f.reasons);
    return o;
  }
  Out operator()(const SpamReport& r) const {
    Out o("spam_report");
    o.U64("id", r.id)
        .U64("reporter", r.reporter)
        .U64("sender", r.sender)
        .U64("chat", r.chat)
        .U64("seq", r.seq)
        .Text("reason", r.reason)
        .I64("reported_at", r.reported_at);
    return o;
  }
  Out operator()(const Attachment& a) const {
    Out o("attachment");
    o.Text("id", a.id)
        .U64("uploader", a.uploader)
        .Enum("kind", a.kind)
        .Text("mime", a.mime)
        .U64("size", a.size)
        .Text("sha256", a.sha256)
        .Enum("state", a.state)
        .I64("created_at", a.created_at)
        .I64("completed_at", a.completed_at);
    return o;
  }
};

// ---------------------------------------------------------------- decoding
// Reads the fields of one object. The first problem is kept and reported by Finish(), together with
// any field that was never asked for: an unknown field means a newer or damaged dump, and silently
// dropping it would lose data.
class In {
 public:
  In(const json& j, std::string type) : j_(j), type_(std::move(type)) { used_.insert("type"); }

  std::uint64_t U64(const char* name) {
    const json* v = Field(name);
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
    const json* v = Field(name);
    if (v == nullptr) return 0;
    if (!v->is_number_integer() ||
        (v->is_number_unsigned() && v->get<std::uint64_t>() > std::numeric_limits<std::int64_t>::max())) {
      Fail(name, "a 64-bit integer", *v);
      return 0;
    }
    return v->get<std::int64_t>();
  }
  double Double(const char* name) {
    const json* v = Field(name);
    if (v == nullptr) return 0;
    if (!v->is_number()) {
      Fail(name, "a number", *v);
      return 0;
    }
    return v->get<double>();
  }
  bool Bool(const char* name) {
    const json* v = Field(name);
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
    const json* v = Field(name);
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
    const json* v = Field(key.c_str());
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

  Status Finish() {
    if (!error_.ok()) return error_;
    for (const auto& [key, value] : j_.items()) {
      if (!used_.count(key)) return Status::InvalidArgument(type_ + ": unknown field \"" + key + "\"");
    }
    return Status::Ok();
  }

 private:
  const json* Field(const char* name) {
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

template <typename T>
Result<StoreRecord> Finished(In& in, T entity) {
  LIBCHAT_RETURN_IF_ERROR(in.Finish());
  return StoreRecord{std::move(entity)};
}

}  // namespace

Result<std::string> EncodeRecordJson(const StoreRecord& record) {
  try {
    return std::visit(Encoder{}, record.entity).Dump();
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
  const std::string& type = t->get_ref<const std::string&>();
  In in(j, type);
  if (type == "counters") {
    IdCounters c;
    c.next_user = in.U64("next_user");
    c.next_device = in.U64("next_device");
    c.next_chat = in.U64("next_chat");
    return Finished(in, c);
  }
  if (type == "user") {
    User u;
    u.id = in.U64("id");
    u.username = in.Text("username");
    u.display_name = in.Text("display_name");
    u.email = in.Text("email");
    u.password_hash = in.Text("password_hash");
    u.avatar_url = in.Text("avatar_url");
    u.created_at = in.I64("created_at");
    u.disabled = in.Bool("disabled");
    u.last_seen_visibility = in.Enum<LastSeenVisibility>("last_seen_visibility");
    return Finished(in, std::move(u));
  }
  if (type == "ban") {
    UserBan b;
    b.user = in.U64("user");
    b.at = in.I64("at");
    b.reason = in.Text("reason");
    return Finished(in, std::move(b));
  }
  if (type == "invite") {
    Invite i;
    i.id = in.Text("id");
    i.code_hash = in.Text("code_hash");
    i.created_at = in.I64("created_at");
    i.expires_at = in.I64("expires_at");
    const std::uint64_t max_uses = in.U64("max_uses");
    const std::uint64_t uses = in.U64("uses");
    i.note = in.Text("note");
    if (max_uses > 0xffffffffu || uses > 0xffffffffu) return Status::InvalidArgument("invite: uses out of range");
    i.max_uses = static_cast<std::uint32_t>(max_uses);
    i.uses = static_cast<std::uint32_t>(uses);
    return Finished(in, std::move(i));
  }
  if (type == "block") {
    UserBlock b;
    b.user = in.U64("user");
    b.blocked = in.U64("blocked");
    b.since = in.I64("since");
    return Finished(in, b);
  }
  if (type == "device") {
    Device d;
    d.id = in.U64("id");
    d.user = in.U64("user");
    d.kind = in.Text("kind");
    d.name = in.Text("name");
    d.push_provider = in.Text("push_provider");
    d.push_token = in.Text("push_token");
    d.token_hash = in.Text("token_hash");
    d.token_expires_at = in.I64("token_expires_at");
    d.created_at = in.I64("created_at");
    d.last_seen = in.I64("last_seen");
    return Finished(in, std::move(d));
  }
  if (type == "chat") {
    ChatRecord r;
    r.chat.id = in.U64("id");
    r.chat.kind = in.Enum<ChatKind>("kind");
    r.chat.name = in.Text("name");
    r.chat.metadata = in.Text("metadata");
    r.chat.member_limit = in.U32("member_limit");
    r.chat.retention_ms = in.I64("retention_ms");
    r.chat.created_by = in.U64("created_by");
    r.chat.created_at = in.I64("created_at");
    r.head = in.U64("head");
    r.last_timestamp = in.I64("last_timestamp");
    return Finished(in, std::move(r));
  }
  if (type == "participant") {
    Participant p;
    p.chat = in.U64("chat");
    p.user = in.U64("user");
    p.role = in.Enum<Role>("role");
    p.joined_at = in.I64("joined_at");
    p.joined_seq = in.U64("joined_seq");
    return Finished(in, p);
  }
  if (type == "message") {
    Message m;
    m.chat = in.U64("chat");
    m.seq = in.U64("seq");
    m.id = in.Text("id");
    m.sender = in.U64("sender");
    m.sender_device = in.U64("sender_device");
    m.client_id = in.Text("client_id");
    m.kind = in.Enum<MessageKind>("kind");
    m.body = in.Text("body");
    m.attachments = in.TextList("attachments");
    m.reply_to = in.U64("reply_to");
    m.ref_seq = in.U64("ref_seq");
    m.timestamp = in.I64("timestamp");
    m.deleted = in.Bool("deleted");
    return Finished(in, std::move(m));
  }
  if (type == "device_cursor") {
    DeviceCursorRecord c;
    c.device = in.U64("device");
    c.chat = in.U64("chat");
    c.seq = in.U64("seq");
    return Finished(in, c);
  }
  if (type == "receipt") {
    ReceiptCursor r;
    r.chat = in.U64("chat");
    r.user = in.U64("user");
    r.delivered = in.U64("delivered");
    r.read = in.U64("read");
    return Finished(in, r);
  }
  if (type == "attachment") {
    Attachment a;
    a.id = in.Text("id");
    a.uploader = in.U64("uploader");
    a.kind = in.Enum<AttachmentKind>("kind");
    a.mime = in.Text("mime");
    a.size = in.U64("size");
    a.sha256 = in.Text("sha256");
    a.state = in.Enum<AttachmentState>("state");
    a.created_at = in.I64("created_at");
    a.completed_at = in.I64("completed_at");
    return Finished(in, std::move(a));
  }
  if (type == "spam_flag") {
    SpamFlag f;
    f.user = in.U64("user");
    f.score = in.Double("score");
    f.flagged_at = in.I64("flagged_at");
    f.updated_at = in.I64("updated_at");
    f.suspended = in.Bool("suspended");
    f.reasons = in.TextList("reasons");
    return Finished(in, std::move(f));
  }
  if (type == "spam_report") {
    SpamReport r;
    r.id = in.U64("id");
    r.reporter = in.U64("reporter");
    r.sender = in.U64("sender");
    r.chat = in.U64("chat");
    r.seq = in.U64("seq");
    r.reason = in.Text("reason");
    r.reported_at = in.I64("reported_at");
    return Finished(in, std::move(r));
  }
  return Status::InvalidArgument("unknown record type \"" + type + "\"");
}

}  // namespace chat::detail

#include "frames.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "json_scan.h"

namespace chat::loadgen {
namespace {

void AppendInt(std::string* out, std::int64_t v) { out->append(std::to_string(v)); }
void AppendUint(std::string* out, std::uint64_t v) { out->append(std::to_string(v)); }

// {"id":N,"cmd":"name"  -- the caller appends the remaining fields and the closing brace.
std::string Begin(std::int64_t id, std::string_view cmd) {
  std::string s;
  s.reserve(128);
  s.append("{\"id\":");
  AppendInt(&s, id);
  s.append(",\"cmd\":\"");
  s.append(cmd);
  s.push_back('"');
  return s;
}

// Reads a message entry at the scanner's position: the fields the tool uses, skipping the others.
bool ReadMessage(JsonScanner& scan, MessageView* out) {
  if (!scan.EnterObject()) return false;
  std::string_view key;
  while (scan.NextKey(&key)) {
    bool read = false;
    if (key == "chatId") {
      read = scan.ReadUint(&out->chat);
    } else if (key == "seq") {
      read = scan.ReadUint(&out->seq);
    } else if (key == "body") {
      read = scan.ReadString(&out->body);
    }
    if (!read && !scan.SkipValue()) return false;
  }
  return scan.ok();
}

// Reads {"code":..,"message":..,"retryAfterMs":..}.
bool ReadError(JsonScanner& scan, ServerFrame* out) {
  if (!scan.EnterObject()) return false;
  std::string_view key;
  while (scan.NextKey(&key)) {
    bool read = false;
    if (key == "code") {
      read = scan.ReadString(&out->error_code);
    } else if (key == "retryAfterMs") {
      read = scan.ReadInt(&out->retry_after_ms);
    }
    if (!read && !scan.SkipValue()) return false;
  }
  return scan.ok();
}

// Parses `text` as JSON without exceptions; a discarded value on error.
nlohmann::json ParseJson(std::string_view text) {
  return nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
}

bool GetU64(const nlohmann::json& j, const char* key, std::uint64_t* out) {
  if (!j.is_object()) return false;
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_unsigned()) return false;
  *out = it->get<std::uint64_t>();
  return true;
}

}  // namespace

void AppendJsonString(std::string* out, std::string_view s) {
  out->push_back('"');
  for (const char c : s) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out->append(buf);
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

std::string EncodeHello(std::int64_t id) {
  std::string s = Begin(id, "hello");
  s.append(",\"version\":1}");
  return s;
}

std::string EncodeRegister(std::int64_t id, std::string_view username, std::string_view password) {
  std::string s = Begin(id, "register");
  s.append(",\"username\":");
  AppendJsonString(&s, username);
  s.append(",\"password\":");
  AppendJsonString(&s, password);
  s.push_back('}');
  return s;
}

std::string EncodeLogin(std::int64_t id, std::string_view username, std::string_view password,
                        std::string_view device_name) {
  std::string s = Begin(id, "login");
  s.append(",\"username\":");
  AppendJsonString(&s, username);
  s.append(",\"password\":");
  AppendJsonString(&s, password);
  s.append(",\"device\":{\"kind\":\"loadgen\",\"name\":");
  AppendJsonString(&s, device_name);
  s.append("}}");
  return s;
}

std::string EncodeResume(std::int64_t id, std::string_view token) {
  std::string s = Begin(id, "resume");
  s.append(",\"token\":");
  AppendJsonString(&s, token);
  s.push_back('}');
  return s;
}

std::string EncodeCreateGroup(std::int64_t id, std::string_view name, const std::vector<std::uint64_t>& members,
                              std::uint32_t member_limit) {
  std::string s = Begin(id, "createChat");
  s.append(",\"kind\":\"group\",\"name\":");
  AppendJsonString(&s, name);
  s.append(",\"members\":[");
  for (std::size_t i = 0; i < members.size(); ++i) {
    if (i > 0) s.push_back(',');
    AppendUint(&s, members[i]);
  }
  s.push_back(']');
  if (member_limit > 0) {
    s.append(",\"memberLimit\":");
    AppendUint(&s, member_limit);
  }
  s.push_back('}');
  return s;
}

std::string EncodeGetChat(std::int64_t id, std::uint64_t chat) {
  std::string s = Begin(id, "getChat");
  s.append(",\"chatId\":");
  AppendUint(&s, chat);
  s.push_back('}');
  return s;
}

std::string EncodeSendMessage(std::int64_t id, std::uint64_t chat, std::string_view client_id, std::string_view body) {
  std::string s;
  s.reserve(96 + client_id.size() + body.size());
  s = Begin(id, "sendMessage");
  s.append(",\"chatId\":");
  AppendUint(&s, chat);
  s.append(",\"clientId\":");
  AppendJsonString(&s, client_id);
  s.append(",\"body\":");
  AppendJsonString(&s, body);
  s.push_back('}');
  return s;
}

std::string EncodeSync(std::int64_t id, const std::vector<std::pair<std::uint64_t, std::uint64_t>>& chats,
                       std::uint32_t limit) {
  std::string s = Begin(id, "sync");
  s.append(",\"chats\":{");
  for (std::size_t i = 0; i < chats.size(); ++i) {
    if (i > 0) s.push_back(',');
    s.push_back('"');
    AppendUint(&s, chats[i].first);
    s.append("\":");
    AppendUint(&s, chats[i].second);
  }
  s.append("},\"limit\":");
  AppendUint(&s, limit);
  s.push_back('}');
  return s;
}

ServerFrame ParseServerFrame(std::string_view text) {
  ServerFrame f;
  JsonScanner scan(text);
  if (!scan.EnterObject()) return f;
  // Keys come in any order (chatd sorts them: "data" precedes "event"), so collect both kinds of
  // field in one pass and decide at the end.
  std::string_view event;
  bool has_id = false;
  bool has_message = false;
  std::string_view key;
  while (scan.NextKey(&key)) {
    bool read = false;
    if (key == "event") {
      read = scan.ReadString(&event);
    } else if (key == "id") {
      has_id = true;
      read = scan.ReadInt(&f.id);
    } else if (key == "ok") {
      read = scan.ReadBool(&f.ok);
    } else if (key == "error") {
      read = ReadError(scan, &f);
    } else if (key == "result") {
      read = scan.ReadRaw(&f.result);
    } else if (key == "data") {
      // newMessage: {"message": {...}}. Other events' data is skipped.
      if (scan.EnterObject()) {
        read = true;
        std::string_view inner;
        while (scan.NextKey(&inner)) {
          if (inner == "message" && ReadMessage(scan, &f.message)) {
            has_message = true;
          } else if (!scan.SkipValue()) {
            break;
          }
        }
      }
    }
    if (!read && !scan.SkipValue()) break;
  }
  if (!scan.ok()) return ServerFrame{};
  if (!event.empty()) {
    f.type = event == "newMessage" && has_message ? ServerFrame::Type::kNewMessage : ServerFrame::Type::kOtherEvent;
  } else if (has_id) {
    f.type = ServerFrame::Type::kResponse;
  }
  return f;
}

bool ParseSendResult(std::string_view result, std::uint64_t* seq) {
  JsonScanner scan(result);
  if (!scan.EnterObject()) return false;
  bool found = false;
  std::string_view key;
  while (scan.NextKey(&key)) {
    if (key == "seq" && scan.ReadUint(seq)) {
      found = true;
    } else if (!scan.SkipValue()) {
      return false;
    }
  }
  return found && scan.ok();
}

bool ParseSyncResult(std::string_view result, SyncVisitor& visitor, std::vector<SyncPage>* pages) {
  JsonScanner scan(result);
  if (!scan.EnterObject()) return false;
  std::string_view key;
  while (scan.NextKey(&key)) {
    if (key != "chats") {
      if (!scan.SkipValue()) return false;
      continue;
    }
    if (!scan.EnterArray()) return false;
    while (scan.NextElement()) {
      if (!scan.EnterObject()) return false;
      SyncPage page;
      std::string_view field;
      while (scan.NextKey(&field)) {
        bool read = false;
        if (field == "chatId") {
          read = scan.ReadUint(&page.chat);
        } else if (field == "head") {
          read = scan.ReadUint(&page.head);
        } else if (field == "hasMore") {
          read = scan.ReadBool(&page.has_more);
        } else if (field == "messages" && scan.EnterArray()) {
          read = true;
          while (scan.NextElement()) {
            MessageView m;
            if (!ReadMessage(scan, &m)) return false;
            // Entries carry their chat id; trust the page's when an entry lacks it.
            if (m.chat == 0) m.chat = page.chat;
            page.last_seq = m.seq;
            visitor.OnSyncedMessage(m);
          }
        }
        if (!read && !scan.SkipValue()) return false;
      }
      pages->push_back(page);
    }
  }
  return scan.ok();
}

bool ParseLoginResult(std::string_view result, LoginResult* out) {
  const nlohmann::json j = ParseJson(result);
  if (!j.is_object()) return false;
  auto user = j.find("user");
  auto device = j.find("device");
  auto token = j.find("token");
  if (user == j.end() || device == j.end()) return false;
  if (!GetU64(*user, "id", &out->user) || !GetU64(*device, "id", &out->device)) return false;
  // resume does not echo the token: the caller keeps the one it has.
  if (token != j.end() && token->is_string()) out->token = token->get<std::string>();
  return true;
}

bool ParseCreateChatResult(std::string_view result, std::uint64_t* chat) {
  const nlohmann::json j = ParseJson(result);
  if (!j.is_object()) return false;
  auto c = j.find("chat");
  return c != j.end() && GetU64(*c, "id", chat);
}

bool ParseGetChatResult(std::string_view result, std::uint64_t* head) {
  const nlohmann::json j = ParseJson(result);
  return GetU64(j, "head", head);
}

}  // namespace chat::loadgen

// chat-client: a small terminal chat program for chatd, the second way to talk to it (the first is the
// web app at http://HOST:PORT/). Built on chat::Client with a local store, so it shows your chats and
// messages with the server down, and what you write offline goes out, once, when it is back.
//
//   chat-client [--server HOST:PORT] [--tls] [--ca FILE] [--store DIR] [--register] USERNAME
//
// The password comes from $CHAT_PASSWORD or is asked for. Type /help for the commands; any other line
// is sent to the open chat.
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "libchat/client.h"
#include "libchat/version.h"

namespace {

std::mutex out_mu;

template <typename... Args>
void Say(const Args&... args) {
  std::lock_guard<std::mutex> lock(out_mu);
  (std::cout << ... << args) << std::endl;
}

struct Args {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  bool tls = false;
  std::string ca;
  std::string store;
  bool do_register = false;
  std::string username;
};

int Usage() {
  std::cerr << "usage: chat-client [--server HOST:PORT] [--tls] [--ca FILE] [--store DIR] [--register] USERNAME\n";
  return 2;
}

std::string ReadPassword() {
  if (const char* p = std::getenv("CHAT_PASSWORD")) return p;
  std::cout << "password: " << std::flush;
  termios old{};
  const bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
  if (tty) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::string password;
  std::getline(std::cin, password);
  if (tty) {
    tcsetattr(STDIN_FILENO, TCSANOW, &old);
    std::cout << "\n";
  }
  return password;
}

chat::AttachmentKind KindOf(const std::string& path, std::string* mime) {
  const std::string ext = std::filesystem::path(path).extension().string();
  static const std::map<std::string, std::pair<chat::AttachmentKind, std::string>> kTypes = {
      {".png", {chat::AttachmentKind::kImage, "image/png"}},   {".jpg", {chat::AttachmentKind::kImage, "image/jpeg"}},
      {".jpeg", {chat::AttachmentKind::kImage, "image/jpeg"}}, {".gif", {chat::AttachmentKind::kImage, "image/gif"}},
      {".webp", {chat::AttachmentKind::kImage, "image/webp"}}, {".mp3", {chat::AttachmentKind::kAudio, "audio/mpeg"}},
      {".ogg", {chat::AttachmentKind::kAudio, "audio/ogg"}},   {".wav", {chat::AttachmentKind::kAudio, "audio/wav"}},
      {".mp4", {chat::AttachmentKind::kVideo, "video/mp4"}},   {".webm", {chat::AttachmentKind::kVideo, "video/webm"}},
      {".pdf", {chat::AttachmentKind::kDocument, "application/pdf"}},
      {".zip", {chat::AttachmentKind::kDocument, "application/zip"}}};
  auto it = kTypes.find(ext);
  if (it == kTypes.end()) {
    *mime = "text/plain";
    return chat::AttachmentKind::kDocument;
  }
  *mime = it->second.second;
  return it->second.first;
}

class Terminal {
 public:
  Terminal(chat::Client& client, std::string username) : client_(client), username_(std::move(username)) {}

  std::string Name(chat::UserId id) {
    if (id == 0) return "server";
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (auto it = names_.find(id); it != names_.end()) return it->second;
    }
    auto u = client_.connected() ? client_.LookupUser(id) : chat::Result<chat::User>(chat::Status::Unavailable(""));
    const std::string name = u.ok() ? (u->display_name.empty() ? u->username : u->display_name) : "user " + std::to_string(id);
    if (u.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      names_[id] = name;
    }
    return name;
  }

  void Show(const chat::Message& m) {
    std::string text;
    switch (m.kind) {
      case chat::MessageKind::kText: text = m.body; break;
      case chat::MessageKind::kMembership: text = "(members changed)"; break;
      case chat::MessageKind::kDeletion: return;
      case chat::MessageKind::kCall: text = "(call)"; break;
      default:
        text = "[" + std::string(chat::ToString(m.kind)) + ": " + m.body + ", /get " + std::to_string(m.seq) + "]";
    }
    if (m.deleted) text = "(deleted)";
    Say("[", m.seq, "] ", m.sender == me_ ? "you" : Name(m.sender), m.reply_to ? " (reply to " + std::to_string(m.reply_to) + ")" : "",
        ": ", text);
  }

  void OnEvent(const chat::ClientEvent& e) {
    if (e.name == "newMessage" && e.entry) {
      if (e.chat == open_) {
        Show(*e.entry);
      } else if (e.entry->sender != me_) {
        Say("(new message in chat ", e.chat, ": /open ", e.chat, ")");
      }
    } else if (e.name == "messageDeleted" && e.chat == open_) {
      Say("(a message was deleted)");
    } else if (e.name == "typing" && e.chat == open_ && e.data.find("\"typing\":true") != std::string::npos) {
      Say("(", Name(e.user), " is typing)");
    } else if (e.name == "callRing") {
      Say("(", "incoming call: calls need the web app)");
    }
  }

  void ListChats() {
    auto chats = client_.LocalChats();
    if (!chats.ok()) return Say("cannot read chats: ", chats.error().ToString());
    if (chats->empty()) Say("no chats yet: /dm USER or /group NAME USER...");
    for (const auto& c : *chats) {
      std::string title = c.chat.kind == chat::ChatKind::kGroup ? c.chat.name : "direct";
      Say("  ", c.chat.id, "  ", title, c.unread ? "  (" + std::to_string(c.unread) + " unread)" : "",
          c.last_message && c.last_message->kind == chat::MessageKind::kText ? "  " + c.last_message->body : "");
    }
  }

  void Open(chat::ChatId chat, chat::Seq before = 0) {
    open_ = chat;
    auto messages = client_.LocalMessages(chat, 20, before);
    if (!messages.ok()) return Say("cannot read chat ", chat, ": ", messages.error().ToString());
    if (messages->empty() && client_.connected()) {
      // Nothing held locally yet (or older than what is held): ask the server; it joins the local copy.
      auto older = client_.History(chat, before, 20);
      if (older.ok()) messages = client_.LocalMessages(chat, 20, before);
    }
    oldest_ = messages->empty() ? 0 : messages->front().seq;
    for (const auto& m : *messages) Show(m);
    auto outbox = client_.LocalOutbox();
    if (outbox.ok()) {
      for (const auto& o : *outbox) {
        if (o.chat == chat) Say("[...] you: ", o.body, o.error.empty() ? "  (waiting to be sent)" : "  (not sent: " + o.error + ")");
      }
    }
    if (client_.connected() && !messages->empty()) client_.MarkRead(chat, messages->back().seq).status().IgnoreError();
  }

  void Command(const std::string& line) {
    std::istringstream in(line);
    std::string cmd;
    in >> cmd;
    if (cmd == "/help") {
      Say("/chats  /open ID  /older  /dm USER  /group NAME USER...  /reply SEQ TEXT  /delete SEQ\n"
          "/send-file PATH  /get SEQ  /outbox  /status  /quit   (other lines are sent to the open chat)");
    } else if (cmd == "/chats") {
      ListChats();
    } else if (cmd == "/open") {
      chat::ChatId id = 0;
      in >> id;
      Open(id);
    } else if (cmd == "/older") {
      if (open_ != 0 && oldest_ > 1) Open(open_, oldest_);
    } else if (cmd == "/dm" || cmd == "/group") {
      std::string name;
      in >> name;
      std::vector<chat::UserId> members;
      chat::Result<chat::Chat> made = chat::Status::InvalidArgument("nobody named");
      if (cmd == "/dm") {
        auto u = client_.LookupUser(name);
        made = u.ok() ? client_.CreateDirect(u->id) : chat::Result<chat::Chat>(u.error());
      } else {
        for (std::string member; in >> member;) {
          auto u = client_.LookupUser(member);
          if (!u.ok()) return Say("no user '", member, "': ", u.error().ToString());
          members.push_back(u->id);
        }
        made = client_.CreateGroup(name, members);
      }
      if (!made.ok()) return Say("could not create the chat: ", made.error().ToString());
      client_.Synchronize().IgnoreError();
      Open(made->id);
    } else if (cmd == "/reply" || cmd == "/delete") {
      chat::Seq seq = 0;
      in >> seq;
      std::string rest;
      std::getline(in, rest);
      if (cmd == "/delete") {
        auto d = client_.DeleteMessage(open_, seq);
        if (!d.ok()) Say("not deleted: ", d.error().ToString());
        return;
      }
      chat::SendOptions more;
      more.reply_to = seq;
      Send(rest.empty() ? rest : rest.substr(1), more);
    } else if (cmd == "/send-file") {
      std::string path;
      std::getline(in >> std::ws, path);
      std::ifstream file(path, std::ios::binary);
      if (!file) return Say("cannot read ", path);
      const std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
      std::string mime;
      const chat::AttachmentKind kind = KindOf(path, &mime);
      int shown = -1;
      auto a = client_.UploadAttachment(kind, mime, bytes, [&shown](std::uint64_t done, std::uint64_t total) {
        const int pct = total ? static_cast<int>(100 * done / total) : 100;
        if (pct / 10 != shown / 10) Say("uploading ", pct, "%");
        shown = pct;
      });
      if (!a.ok()) return Say("upload failed: ", a.error().ToString());
      chat::SendOptions more;
      chat::Parse(chat::ToString(kind), &more.kind);
      more.attachments = {a->id};
      Send(std::filesystem::path(path).filename().string(), more);
    } else if (cmd == "/get") {
      chat::Seq seq = 0;
      in >> seq;
      auto m = client_.LocalMessages(open_, 1, seq + 1);
      if (!m.ok() || m->empty() || m->back().seq != seq || m->back().attachments.empty()) return Say("no attachment at ", seq);
      auto bytes = client_.DownloadAttachment(m->back().attachments.front());
      if (!bytes.ok()) return Say("download failed: ", bytes.error().ToString());
      const std::string name = std::filesystem::path(m->back().body).filename().string();
      const std::string out = name.empty() ? m->back().attachments.front() : name;
      std::ofstream(out, std::ios::binary) << *bytes;
      Say("saved ", out, " (", bytes->size(), " bytes)");
    } else if (cmd == "/outbox") {
      auto outbox = client_.LocalOutbox();
      if (outbox.ok()) Say(outbox->size(), " message(s) waiting");
    } else if (cmd == "/status") {
      Say(client_.connected() ? "online" : "offline (reconnecting in the background)");
    } else {
      Say("unknown command ", cmd, " (/help)");
    }
  }

  void Send(const std::string& text, const chat::SendOptions& more = {}) {
    if (open_ == 0) return Say("open a chat first (/chats, /open ID)");
    if (text.empty() && more.attachments.empty()) return;
    auto id = client_.Post(open_, text, more);
    if (!id.ok()) return Say("not written: ", id.error().ToString());
    if (!client_.connected()) Say("(offline: will be sent when the server is back)");
  }

  void set_me(chat::UserId me) { me_ = me; }

 private:
  chat::Client& client_;
  std::string username_;
  std::mutex mu_;
  std::map<chat::UserId, std::string> names_;
  std::atomic<chat::ChatId> open_{0};
  chat::Seq oldest_ = 0;
  chat::UserId me_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--version") {
      std::cout << "chat-client (libchat " << LIBCHAT_VERSION_STRING << ")\n";
      return 0;
    }
    if (a == "--server" && i + 1 < argc) {
      const std::string v = argv[++i];
      const auto colon = v.rfind(':');
      if (colon == std::string::npos) return Usage();
      const std::string port = v.substr(colon + 1);
      // A port is 1 to 65535 in digits: "-1" or "99999" is a usage error, not a wrapped number.
      if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
          std::atoi(port.c_str()) < 1 || std::atoi(port.c_str()) > 65535) {
        return Usage();
      }
      args.host = v.substr(0, colon);
      args.port = static_cast<std::uint16_t>(std::atoi(port.c_str()));
    } else if (a == "--tls") {
      args.tls = true;
    } else if (a == "--ca" && i + 1 < argc) {
      args.ca = argv[++i];
    } else if (a == "--store" && i + 1 < argc) {
      args.store = argv[++i];
    } else if (a == "--register") {
      args.do_register = true;
    } else if (!a.empty() && a[0] != '-' && args.username.empty()) {
      args.username = a;
    } else {
      return Usage();
    }
  }
  if (args.username.empty()) return Usage();
  if (args.store.empty()) {
    const char* home = std::getenv("HOME");
    args.store = std::string(home ? home : ".") + "/.local/share/libchat-client/" + args.username + "@" + args.host +
                 "_" + std::to_string(args.port);
  }
  std::error_code ec;
  std::filesystem::create_directories(args.store, ec);

  chat::ClientOptions options;
  options.tls = args.tls;
  options.tls_ca_file = args.ca;
  options.local_store = "leveldb://" + std::filesystem::absolute(args.store).string();
  auto opened = chat::Client::Open(args.host, args.port, options);
  if (!opened.ok()) {
    std::cerr << "chat-client: " << opened.error().ToString() << "\n";
    return 1;
  }
  chat::Client& client = **opened;
  Terminal term(client, args.username);

  // Signed in before (a stored session): resume it. Otherwise log in (registering first if asked).
  auto stored = client.LocalSession();
  if (stored.ok() && stored->user.username == args.username) {
    term.set_me(stored->user.id);
    if (client.connected()) {
      auto resumed = client.Resume(stored->token);
      if (resumed.ok()) client.Synchronize().IgnoreError();
    }
  } else {
    if (!client.connected()) {
      std::cerr << "chat-client: cannot reach " << args.host << ":" << args.port << " to sign in\n";
      return 1;
    }
    const std::string password = ReadPassword();
    if (args.do_register) {
      auto reg = client.Register(args.username, password);
      if (!reg.ok() && reg.error().code() != chat::StatusCode::kAlreadyExists) {
        std::cerr << "chat-client: register: " << reg.error().ToString() << "\n";
        return 1;
      }
    }
    auto session = client.Login(args.username, password, "terminal", "chat-client");
    if (!session.ok()) {
      std::cerr << "chat-client: " << session.error().ToString() << "\n";
      return 1;
    }
    term.set_me(session->user.id);
    client.Synchronize().IgnoreError();
  }
  client.SetEventHandler([&term](const chat::ClientEvent& e) { term.OnEvent(e); });

  Say(client.connected() ? "connected" : "offline: showing your saved chats; what you write is sent when the server is back",
      " (/help for commands)");
  term.ListChats();

  // Reconnects in the background with backoff; Reconnect resumes, syncs and sends the outbox.
  std::atomic<bool> done{false};
  std::thread reconnector([&] {
    int wait_ms = 500;
    while (!done) {
      std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
      if (done || client.connected()) {
        wait_ms = 500;
        continue;
      }
      if (client.Reconnect().ok()) {
        Say("(back online)");
        wait_ms = 500;
      } else {
        wait_ms = std::min(wait_ms * 2, 30000);
      }
    }
  });

  for (std::string line; std::getline(std::cin, line);) {
    if (line == "/quit") break;
    if (line.empty()) continue;
    if (line[0] == '/') {
      term.Command(line);
    } else {
      term.Send(line);
    }
  }
  done = true;
  reconnector.join();
  return 0;
}

// A tiny chat client: registers (if needed), logs in, opens a direct chat with a peer, prints what
// arrives and sends what you type. Shows the rules of docs/protocol.md: sync after login, dedup by
// seq (chat::Client does it), ack what was shown, one clientId per message.
//
//   chat_client_example HOST PORT USERNAME PASSWORD PEER
//   e.g. two terminals: ... 127.0.0.1 8080 alice secret-alice bob
//                       ... 127.0.0.1 8080 bob   secret-bob   alice
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <random>
#include <string>

#include "libchat/client.h"

namespace {

std::mutex print_mu;

void Show(const chat::Message& m, chat::UserId me) {
  std::lock_guard<std::mutex> lock(print_mu);
  if (m.kind == chat::MessageKind::kText) {
    std::cout << "[" << m.seq << "] " << (m.sender == me ? "me" : "them") << ": " << m.body << "\n";
  } else {
    std::cout << "[" << m.seq << "] (" << chat::ToString(m.kind) << ")\n";
  }
  std::cout.flush();
}

int Fail(const std::string& what, const chat::Status& s) {
  std::cerr << what << ": " << s.ToString() << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    std::cerr << "usage: " << argv[0] << " HOST PORT USERNAME PASSWORD PEER\n";
    return 2;
  }
  const std::string host = argv[1];
  const auto port = static_cast<std::uint16_t>(std::atoi(argv[2]));
  const std::string username = argv[3], password = argv[4], peer = argv[5];

  // 1. Connect: WebSocket to /ws and the hello handshake.
  auto connected = chat::Client::Connect(host, port);
  if (!connected.ok()) return Fail("connect", connected.error());
  chat::Client& client = **connected;

  // 2. Register on first use (already_exists is fine), then log in as a new device.
  auto reg = client.Register(username, password);
  if (!reg.ok() && reg.error().code() != chat::StatusCode::kAlreadyExists) return Fail("register", reg.error());
  auto session = client.Login(username, password, "cli", "example client");
  if (!session.ok()) return Fail("login", session.error());
  const chat::UserId me = session->user.id;

  // 3. The direct chat with the peer (the same chat every time).
  auto other = client.LookupUser(peer);
  if (!other.ok()) return Fail("lookupUser " + peer + " (has " + peer + " registered?)", other.error());
  auto chat = client.CreateDirect(other->id);
  if (!chat.ok()) return Fail("createChat", chat.error());
  const chat::ChatId chat_id = chat->id;

  // 4. Live events first, then sync: whatever commits after the sync arrives live, and the client
  //    drops what it has already seen (by seq), so nothing is missed or shown twice.
  client.SetEventHandler([&client, me, chat_id](const chat::ClientEvent& e) {
    if (e.name != "newMessage" || e.chat != chat_id || !e.entry) return;
    Show(*e.entry, me);
    if (e.gap) {
      std::lock_guard<std::mutex> lock(print_mu);
      std::cout << "(missed messages: type /sync)\n";
    }
  });
  auto synced = client.Sync({{chat_id, 0}}, 50);
  if (!synced.ok()) return Fail("sync", synced.error());
  for (const auto& page : synced->chats) {
    for (const auto& m : page.messages) Show(m, me);
    if (!page.messages.empty()) client.Ack(chat_id, page.messages.back().seq).status().IgnoreError();
  }

  // 5. Send what is typed. One clientId per message: a retry with the same id is never duplicated.
  std::mt19937_64 rng{std::random_device{}()};
  std::string line;
  std::cout << "chatting with " << peer << " in chat " << chat_id << " (/sync, /quit)\n";
  while (std::getline(std::cin, line)) {
    if (line == "/quit") break;
    if (line == "/sync") {
      auto again = client.Sync({{chat_id, client.LastSeq(chat_id)}});
      if (again.ok()) {
        for (const auto& page : again->chats) {
          for (const auto& m : page.messages) Show(m, me);
        }
      }
      continue;
    }
    if (line.empty()) continue;
    const std::string client_id = std::to_string(rng());
    auto sent = client.SendMessage(chat_id, client_id, line);
    if (!sent.ok()) {
      std::cerr << "not sent: " << sent.error().ToString() << "\n";
      continue;
    }
    client.Ack(chat_id, client.LastSeq(chat_id)).status().IgnoreError();
  }
  return 0;
}

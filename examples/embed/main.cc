// Embedding libchat: open a store by URI, create two users and a chat, send a message, sync it on the
// other user's device. Run with no arguments for an in-memory store, or give a store URI, e.g.
//   embed leveldb:///tmp/embed-store
#include <cstdio>

#include "libchat/libchat.h"

int main(int argc, char** argv) {
  const std::string uri = argc > 1 ? argv[1] : "mem://";
  auto fail = [](const chat::Status& s) {
    std::fprintf(stderr, "embed: %s\n", s.ToString().c_str());
    return 1;
  };

  auto store = chat::Registry::Default().MakeStore(uri);
  if (!store.ok()) return fail(store.error());
  chat::ServiceOptions options;
  options.password_cost = chat::PasswordCost::kMinimum;  // An example: do not do this in production.
  auto service = chat::ChatService::Create(options, std::move(*store), chat::NewInProcBus());
  if (!service.ok()) return fail(service.error());
  chat::ChatService& chat = **service;

  for (const char* name : {"ada", "grace"}) {
    auto u = chat.Register({name, std::string(name) + "-secret", name, "", ""});
    if (!u.ok() && u.error().code() != chat::StatusCode::kAlreadyExists) return fail(u.error());
  }
  auto ada = chat.Login("ada", "ada-secret", {"laptop", "example"});
  auto grace = chat.Login("grace", "grace-secret", {"phone", "example"});
  if (!ada.ok()) return fail(ada.error());
  if (!grace.ok()) return fail(grace.error());

  auto room = chat.CreateGroup(ada->user.id, "compilers", {grace->user.id});
  if (!room.ok()) return fail(room.error());
  chat::SendRequest hello{ada->user.id, ada->device.id, room->id, "hello-1", chat::MessageKind::kText,
                          "Hello, Grace!", {}, 0};
  auto sent = chat.Send(hello);
  if (!sent.ok()) return fail(sent.error());
  std::printf("sent seq %llu\n", static_cast<unsigned long long>(sent->message.seq));

  // Grace's device syncs what it has not acknowledged, then acknowledges it.
  auto page = chat.Sync(grace->user.id, grace->device.id, room->id, std::nullopt, 100);
  if (!page.ok()) return fail(page.error());
  for (const auto& m : page->messages) {
    std::printf("grace got #%llu [%s] %s\n", static_cast<unsigned long long>(m.seq),
                std::string(chat::ToString(m.kind)).c_str(), m.body.c_str());
  }
  if (page->messages.empty() || page->messages.back().body != "Hello, Grace!") {
    return fail(chat::Status::Internal("the message did not arrive"));
  }
  auto ack = chat.Ack(grace->user.id, grace->device.id, room->id, page->messages.back().seq);
  if (!ack.ok()) return fail(ack.error());
  return 0;
}

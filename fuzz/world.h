// The world a fuzz input runs against: a real ChatService on the in-memory store with two users who
// share a group chat holding one message and one attachment, so that inputs reach past "no such chat"
// into the handlers' real work. Rebuilt now and then so that state built by earlier inputs (chats,
// messages, devices) does not grow without bound over a long run.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "libchat/blob.h"
#include "libchat/bus.h"
#include "libchat/service.h"
#include "libchat/store.h"

namespace chat::fuzz {

struct World {
  std::shared_ptr<Store> store;
  std::shared_ptr<Bus> bus;
  std::shared_ptr<BlobStore> blobs;
  std::unique_ptr<ChatService> service;
  Session alice;  // Owner of the group.
  Session bob;    // Member of the group.
  ChatId group = 0;
};

// Aborts (a harness bug, not a finding) if the world cannot be built.
std::unique_ptr<World> MakeWorld();

// Aborts with `what` when `ok` is false: for the harness's own set-up steps.
void Check(bool ok, const char* what);

}  // namespace chat::fuzz

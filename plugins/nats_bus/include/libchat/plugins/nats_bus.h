// The NATS bus: carries events between chatd nodes on core NATS (nats://h1:4222,h2:4222?...), by
// interest: an event is published once, on its chat's subject, and reaches only the nodes that watch
// that chat (docs/scaling.md, "Subjects"). Needs nats-server 2.9 or later; core NATS only (no
// JetStream). The URI keys are in plugins/nats_bus/README.md.
#pragma once

#include <memory>

#include "libchat/bus.h"
#include "libchat/registry.h"
#include "libchat/uri.h"

namespace chat {

// Connects to the servers of `uri` (any one of them is enough; the others are tried on failure and
// the client learns the rest of the cluster from the server). InvalidArgument for an unknown key or a
// malformed value; Unavailable if no server answers (chatd fails at startup, not on first use).
// Once connected it reconnects forever on its own.
Result<std::unique_ptr<Bus>> OpenNatsBus(const Uri& uri);

// Registers nats:// (called by Registry::Default() when built with LIBCHAT_WITH_NATS).
void RegisterNatsBus(Registry& registry);

}  // namespace chat

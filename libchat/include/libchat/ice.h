// ICE servers handed to the two ends of a call, so that their WebRTC peer connection can find a path:
// STUN servers (public address discovery) and TURN relays with time-limited credentials in the
// "TURN REST API" style (draft-uberti-behave-turn-rest-00), which coturn verifies with its
// `use-auth-secret` / `static-auth-secret` options. libchat never relays media itself.
#pragma once

#include <string>
#include <vector>

#include "libchat/types.h"

namespace chat {

// One entry of RTCConfiguration.iceServers.
struct IceServer {
  std::vector<std::string> urls;  // "stun:host:3478", "turn:host:3478?transport=udp", "turns:...".
  std::string username;           // TURN only.
  std::string credential;         // TURN only.
};

struct IceOptions {
  // STUN server URLs, handed out as one entry. Default: none.
  std::vector<std::string> stun_urls;
  // TURN server URLs, handed out as one entry with credentials; ignored without turn_secret.
  // Default: none.
  std::vector<std::string> turn_urls;
  // The secret shared with the TURN server (coturn's static-auth-secret). Default: empty (no TURN).
  std::string turn_secret;
  // How long TURN credentials stay valid from the moment they are handed out. A call lasting longer
  // keeps its allocation (TURN checks credentials when allocating and refreshing with the same
  // username, and coturn accepts refreshes of a live allocation). Default: 24 hours.
  TimeMs turn_ttl_ms = 24LL * 3600 * 1000;
};

// The TURN REST API password of `username`: base64(HMAC-SHA1(secret, username)). Pure; thread-safe.
std::string TurnCredential(const std::string& secret, const std::string& username);

// The ICE servers for `user` at wall-clock time `now`: the STUN entry (if any) and the TURN entry
// (if URLs and a secret are configured) with username "<expiry unix seconds>:<user id>", expiry being
// now + turn_ttl_ms. Empty if nothing is configured. Pure; thread-safe.
std::vector<IceServer> MakeIceServers(const IceOptions& options, UserId user, TimeMs now);

}  // namespace chat

// TURN REST API credentials (draft-uberti-behave-turn-rest-00), as coturn's use-auth-secret checks
// them: the password is base64(HMAC-SHA1(secret, username)). OpenSSL computes both; nothing is
// hand-rolled.
#include "libchat/ice.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace chat {

std::string TurnCredential(const std::string& secret, const std::string& username) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  // HMAC() over a fixed digest cannot fail for valid lengths; a null return would leave mac_len 0 and
  // yield an empty credential, which the TURN server refuses (never a wrong but accepted one).
  if (HMAC(EVP_sha1(), secret.data(), static_cast<int>(secret.size()),
           reinterpret_cast<const unsigned char*>(username.data()), username.size(), mac, &mac_len) == nullptr) {
    return {};
  }
  // EVP_EncodeBlock writes standard base64 with padding and a NUL: 4 bytes per 3, rounded up.
  std::string out(4 * ((mac_len + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), mac, static_cast<int>(mac_len));
  out.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
  return out;
}

std::vector<IceServer> MakeIceServers(const IceOptions& options, UserId user, TimeMs now) {
  std::vector<IceServer> servers;
  if (!options.stun_urls.empty()) servers.push_back(IceServer{options.stun_urls, {}, {}});
  if (!options.turn_urls.empty() && !options.turn_secret.empty()) {
    // The TURN server compares the expiry with its own clock in Unix seconds.
    const TimeMs expiry_s = (now + options.turn_ttl_ms) / 1000;
    IceServer turn;
    turn.urls = options.turn_urls;
    turn.username = std::to_string(expiry_s) + ":" + std::to_string(user);
    turn.credential = TurnCredential(options.turn_secret, turn.username);
    servers.push_back(std::move(turn));
  }
  return servers;
}

}  // namespace chat

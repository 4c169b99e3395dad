// MakePushSenders: chatd's --push flags ("[PROVIDER=]URI") to the senders the dispatcher routes to.
#include <cctype>

#include "libchat/push_dispatcher.h"

namespace chat {
namespace {

bool IsProviderName(const std::string& s) {
  if (s == "*") return true;
  if (s.empty() || s.size() > 32) return false;
  for (char c : s) {
    if (!std::islower(static_cast<unsigned char>(c)) && !std::isdigit(static_cast<unsigned char>(c)) &&
        c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

}  // namespace

Result<PushSenders> MakePushSenders(const Registry& registry, const std::vector<std::string>& specs) {
  PushSenders senders;
  for (const std::string& spec : specs) {
    // A provider prefix ends before "://": an '=' later on belongs to the URI's query.
    std::string provider = "*";
    std::string uri = spec;
    std::size_t scheme_end = spec.find("://");
    std::size_t eq = spec.find('=');
    if (eq != std::string::npos && (scheme_end == std::string::npos || eq < scheme_end)) {
      provider = spec.substr(0, eq);
      uri = spec.substr(eq + 1);
    }
    if (!IsProviderName(provider)) {
      return Status::InvalidArgument("push sender '" + spec + "': provider must be * or [a-z0-9_-]+");
    }
    if (senders.count(provider)) {
      return Status::InvalidArgument("push sender for provider '" + provider + "' given twice");
    }
    auto sender = registry.MakePush(uri);
    if (!sender.ok()) return sender.error();
    senders.emplace(provider, std::shared_ptr<PushSender>(std::move(*sender)));
  }
  return senders;
}

}  // namespace chat

// Uri: how backends are named: scheme://host/path?key=value&... e.g. leveldb:///var/lib/chatd/store?sync=1
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "libchat/result.h"

namespace chat {

struct Uri {
  std::string scheme;  // lower-case, e.g. "leveldb"
  std::string host;    // may be empty
  std::string path;    // e.g. "/var/lib/chatd/store"
  std::map<std::string, std::string> query;

  // InvalidArgument naming the text if it is not scheme://... .
  static Result<Uri> Parse(std::string_view text);
  // The URI back as text; values of keys that look secret (password, token, secret, key) are redacted.
  std::string ToString() const;
  // The query value for key, or fallback.
  std::string Get(const std::string& key, const std::string& fallback = "") const;
  // InvalidArgument naming the first query key not in `known`.
  Status CheckKeys(std::initializer_list<std::string_view> known) const;
};

}  // namespace chat

#pragma once

#include <cctype>
#include <string>

namespace chat::detail {

// Blob ids are [A-Za-z0-9_-]{1,64}: safe as file names on every backend, never a path.
inline bool IsValidBlobId(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  }
  return true;
}

}  // namespace chat::detail

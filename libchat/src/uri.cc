#include "libchat/uri.h"

#include <algorithm>
#include <cctype>

namespace chat {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes; false on a malformed escape.
bool PercentDecode(std::string_view in, std::string* out) {
  out->clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = HexValue(in[i + 1]);
      int lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out->push_back(in[i]);
    }
  }
  return true;
}

bool LooksSecret(const std::string& key) {
  for (const char* word : {"password", "token", "secret", "key"}) {
    if (key.find(word) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

Result<Uri> Uri::Parse(std::string_view text) {
  auto bad = [&](const char* why) {
    return Status::InvalidArgument("uri '" + std::string(text) + "': " + why);
  };
  std::size_t sep = text.find("://");
  if (sep == std::string_view::npos || sep == 0) return bad("expected scheme://...");
  Uri uri;
  for (char c : text.substr(0, sep)) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') {
      return bad("invalid scheme");
    }
    uri.scheme.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  std::string_view rest = text.substr(sep + 3);
  std::string_view query;
  if (std::size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  std::size_t slash = rest.find('/');
  std::string_view host = slash == std::string_view::npos ? rest : rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  if (!PercentDecode(host, &uri.host) || !PercentDecode(path, &uri.path)) return bad("bad % escape");
  while (!query.empty()) {
    std::size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    std::size_t eq = pair.find('=');
    std::string key, value;
    if (!PercentDecode(pair.substr(0, eq), &key)) return bad("bad % escape");
    if (eq != std::string_view::npos && !PercentDecode(pair.substr(eq + 1), &value)) {
      return bad("bad % escape");
    }
    if (key.empty()) return bad("empty query key");
    uri.query[key] = value;
  }
  return uri;
}

std::string Uri::ToString() const {
  // A password in the authority (user:password@host) is a secret too.
  std::string authority = host;
  if (std::size_t at = authority.rfind('@'); at != std::string::npos) {
    if (std::size_t colon = authority.find(':'); colon < at) authority.replace(colon + 1, at - colon - 1, "***");
  }
  std::string s = scheme + "://" + authority + path;
  char sep = '?';
  for (const auto& [k, v] : query) {
    s += sep;
    s += k;
    s += '=';
    s += LooksSecret(k) ? "***" : v;
    sep = '&';
  }
  return s;
}

std::string Uri::Get(const std::string& key, const std::string& fallback) const {
  auto it = query.find(key);
  return it == query.end() ? fallback : it->second;
}

Status Uri::CheckKeys(std::initializer_list<std::string_view> known) const {
  for (const auto& [k, v] : query) {
    if (std::find(known.begin(), known.end(), k) == known.end()) {
      std::string list;
      for (auto n : known) list += (list.empty() ? "" : ", ") + std::string(n);
      return Status::InvalidArgument(ToString() + ": unknown option '" + k + "' (known: " +
                                     (list.empty() ? "none" : list) + ")");
    }
  }
  return Status::Ok();
}

}  // namespace chat

#include "static_files.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <system_error>
#include <vector>

#include "crypto.h"
#include "libchat/version.h"

namespace chat::detail {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kAssetsToken = "%ASSETS%";
constexpr std::string_view kReleasePrefix = "r/";

// What the app may load: everything from its own origin, nothing inline, nothing from elsewhere.
// blob: for images and media the app downloads with its token and shows (attachments, call video).
// 'self' in connect-src covers same-origin ws:// and wss:// (CSP Level 3).
constexpr const char* kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "media-src 'self' blob:; connect-src 'self'; font-src 'self'; manifest-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "main.3f2a9c1d.js": a dot-separated part of 8 or more hex digits before the extension.
bool HasHashedName(const std::string& name) {
  const std::string base = name.substr(name.rfind('/') + 1);
  std::vector<std::string> parts;
  std::stringstream in(base);
  for (std::string part; std::getline(in, part, '.');) parts.push_back(part);
  if (parts.size() < 3) return false;
  for (std::size_t i = 1; i + 1 < parts.size(); ++i) {
    const std::string& p = parts[i];
    if (p.size() >= 8 && std::all_of(p.begin(), p.end(), [](char c) { return HexValue(c) >= 0; })) return true;
  }
  return false;
}

bool ReadWhole(const fs::path& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

// True if `tag` (an If-None-Match value: a list of entity tags, or *) names `etag`.
bool EtagMatches(std::string_view header, const std::string& etag) {
  if (header == "*") return true;
  std::size_t pos = 0;
  while (pos < header.size()) {
    std::size_t end = header.find(',', pos);
    if (end == std::string_view::npos) end = header.size();
    std::string_view t = header.substr(pos, end - pos);
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
    if (t.substr(0, 2) == "W/") t.remove_prefix(2);  // Weak comparison, as If-None-Match asks.
    if (t == etag) return true;
    pos = end + 1;
  }
  return false;
}

}  // namespace

std::string ContentTypeFor(const std::string& name) {
  static const std::map<std::string, std::string> kTypes = {
      {"html", "text/html; charset=utf-8"},
      {"js", "text/javascript; charset=utf-8"},
      {"mjs", "text/javascript; charset=utf-8"},
      {"css", "text/css; charset=utf-8"},
      {"json", "application/json"},
      {"webmanifest", "application/manifest+json"},
      {"map", "application/json"},
      {"txt", "text/plain; charset=utf-8"},
      {"svg", "image/svg+xml"},
      {"png", "image/png"},
      {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},
      {"webp", "image/webp"},
      {"ico", "image/x-icon"},
      {"woff2", "font/woff2"},
      {"woff", "font/woff"},
      {"wasm", "application/wasm"},
  };
  const auto dot = name.rfind('.');
  if (dot == std::string::npos || name.find('/', dot) != std::string::npos) return "application/octet-stream";
  std::string ext = name.substr(dot + 1);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  auto it = kTypes.find(ext);
  return it == kTypes.end() ? "application/octet-stream" : it->second;
}

bool NormaliseRequestPath(std::string_view path, std::string* out) {
  if (path.empty() || path.front() != '/') return false;
  std::string decoded;
  decoded.reserve(path.size());
  for (std::size_t i = 0; i < path.size(); ++i) {
    char c = path[i];
    if (c == '%') {
      if (i + 2 >= path.size()) return false;
      const int hi = HexValue(path[i + 1]);
      const int lo = HexValue(path[i + 2]);
      if (hi < 0 || lo < 0) return false;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    // Checked after decoding, so that %00 and %5c are refused like the raw bytes.
    if (c == '\0' || c == '\\') return false;
    decoded.push_back(c);
  }
  std::string rel = decoded.substr(1);
  // Every segment a plain name: no "", ".", ".." (a trailing '/' names the folder's index).
  std::size_t start = 0;
  while (start < rel.size()) {
    std::size_t end = rel.find('/', start);
    if (end == std::string::npos) end = rel.size();
    const std::string_view seg(rel.data() + start, end - start);
    if (seg.empty() || seg == "." || seg == "..") return false;
    start = end + 1;
  }
  *out = std::move(rel);
  return true;
}

Result<std::shared_ptr<const StaticSite>> StaticSite::Load(const std::string& root) {
  std::error_code ec;
  const fs::path base = fs::canonical(root, ec);
  if (ec || !fs::is_directory(base, ec)) {
    return Status::InvalidArgument("web root '" + root + "' is not a readable folder" +
                                   (ec ? ": " + ec.message() : std::string()));
  }
  std::shared_ptr<StaticSite> site(new StaticSite());
  site->root_ = base.string();
  fs::recursive_directory_iterator it(base, fs::directory_options::none, ec);
  if (ec) return Status::InvalidArgument("web root '" + root + "': " + ec.message());
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) return Status::InvalidArgument("web root '" + root + "': " + ec.message());
    const fs::path& p = it->path();
    const std::string name = p.filename().string();
    if (!name.empty() && name.front() == '.') {
      // Hidden files and folders (.git, editor swap files) are not part of the site.
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file(ec)) continue;
    const std::string rel = p.lexically_relative(base).generic_string();
    std::string normalised;
    if (!NormaliseRequestPath("/" + rel, &normalised) || normalised != rel || rel.find('%') != std::string::npos) {
      continue;  // A name no URL could reach as is: leave it out rather than guess.
    }
    if (site->files_.size() >= kMaxFiles) {
      return Status::InvalidArgument("web root '" + root + "' holds more than " + std::to_string(kMaxFiles) + " files");
    }
    File f;
    if (!ReadWhole(p, &f.body)) return Status::InvalidArgument("web root '" + root + "': cannot read " + rel);
    site->total_bytes_ += f.body.size();
    if (site->total_bytes_ > kMaxTotalBytes) {
      return Status::InvalidArgument("web root '" + root + "' holds more than " + std::to_string(kMaxTotalBytes >> 20) +
                                     " MiB");
    }
    f.content_type = ContentTypeFor(rel);
    f.hashed_name = HasHashedName(rel);
    site->files_.emplace(rel, std::move(f));
  }
  if (site->files_.count("index.html") == 0) {
    return Status::InvalidArgument("web root '" + root + "' has no index.html");
  }
  // The release: one hash over every name and content (a std::map iterates in a fixed order).
  Sha256 release;
  for (auto& [name, f] : site->files_) {
    release.Update(name);
    release.Update(std::string_view("\0", 1));
    release.Update(Sha256Hex(f.body));
  }
  site->release_ = release.HexDigest().substr(0, 16);
  // The index names its assets under the release, so that they are cached for good; its own ETag is
  // computed after the substitution, which is what clients receive.
  for (auto& [name, f] : site->files_) {
    if (f.content_type.rfind("text/html", 0) != 0) continue;
    std::string out;
    std::size_t pos = 0;
    for (std::size_t hit; (hit = f.body.find(kAssetsToken, pos)) != std::string::npos; pos = hit + kAssetsToken.size()) {
      out.append(f.body, pos, hit - pos);
      out.append("/").append(kReleasePrefix).append(site->release_);
    }
    out.append(f.body, pos, std::string::npos);
    f.body = std::move(out);
  }
  for (auto& [name, f] : site->files_) f.etag = "\"" + Sha256Hex(f.body) + "\"";
  return std::shared_ptr<const StaticSite>(std::move(site));
}

http::response<http::string_body> StaticSite::Respond(const http::request<http::string_body>& req) const {
  auto make = [&req](http::status status) {
    http::response<http::string_body> res{status, req.version()};
    res.set(http::field::server, "chatd/" LIBCHAT_VERSION_STRING);
    res.set("X-Content-Type-Options", "nosniff");
    res.set("Content-Security-Policy", kContentSecurityPolicy);
    res.set("Referrer-Policy", "no-referrer");
    res.set("X-Frame-Options", "DENY");
    res.set("Cross-Origin-Opener-Policy", "same-origin");
    res.set("Cross-Origin-Resource-Policy", "same-origin");
    res.set("Permissions-Policy", "camera=(self), microphone=(self), geolocation=(), payment=()");
    res.keep_alive(req.keep_alive());
    return res;
  };
  auto text = [&](http::status status, std::string body) {
    auto res = make(status);
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.set(http::field::cache_control, "no-store");
    if (req.method() != http::verb::head) res.body() = std::move(body);
    res.prepare_payload();
    return res;
  };

  const std::string_view target(req.target().data(), req.target().size());
  std::string rel;
  if (!NormaliseRequestPath(target.substr(0, target.find_first_of("?#")), &rel)) {
    return text(http::status::bad_request, "malformed path\n");
  }
  // A release prefix: immutable if it is this release (an old one is served, but not cached for good:
  // a page loaded before an upgrade still gets today's files).
  bool immutable = false;
  if (rel.rfind(kReleasePrefix, 0) == 0) {
    const std::size_t slash = rel.find('/', kReleasePrefix.size());
    const std::string_view id = std::string_view(rel).substr(kReleasePrefix.size(), slash - kReleasePrefix.size());
    if (slash != std::string::npos && id.size() == release_.size() &&
        std::all_of(id.begin(), id.end(), [](char c) { return HexValue(c) >= 0; })) {
      immutable = id == release_;
      rel = rel.substr(slash + 1);
    }
  }
  if (rel.empty() || rel.back() == '/') rel += "index.html";
  auto it = files_.find(rel);
  if (it == files_.end()) return text(http::status::not_found, "not found\n");
  const File& f = it->second;
  immutable = (immutable || f.hashed_name) && f.content_type.rfind("text/html", 0) != 0;

  auto res = make(http::status::ok);
  res.set(http::field::etag, f.etag);
  res.set(http::field::cache_control, immutable ? "public, max-age=31536000, immutable" : "no-cache");
  if (auto inm = req.find(http::field::if_none_match); inm != req.end()) {
    if (EtagMatches(std::string_view(inm->value().data(), inm->value().size()), f.etag)) {
      res.result(http::status::not_modified);
      return res;
    }
  }
  res.set(http::field::content_type, f.content_type);
  if (req.method() == http::verb::head) {
    res.content_length(f.body.size());
  } else {
    res.body() = f.body;
    res.prepare_payload();
  }
  return res;
}

}  // namespace chat::detail

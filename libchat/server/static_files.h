// StaticSite: the web app (or any folder of static files) that chatd serves at "/" (docs/operations.md,
// --web-root). The folder is read once, when the server starts, into memory: a request is answered by
// looking its path up in that snapshot, so no request ever opens a file, and a path that is not one of
// the snapshot's names (../, %2e%2e, an absolute path, a symlink out of the folder) cannot reach the
// disk at all.
//
// Caching: every file has an ETag (its SHA-256) and answers If-None-Match with 304. The folder as a
// whole has a release id (a hash of every name and content); `/r/<release>/<path>` serves <path> with
// `Cache-Control: public, max-age=31536000, immutable`, since that URL's content can never change. The
// index (and any file reached without a release) is `no-cache`: revalidated on each load, so a new
// release is picked up at once. index.html may name its assets through the token %ASSETS% (replaced by
// "/r/<release>") so that the whole app below it is cached for good. File names holding a content hash
// (`main.3f2a9c1d.js`, as bundlers write them) are immutable too.
//
// Every answer carries a strict Content-Security-Policy (scripts, styles and connections from this
// origin only; images and media also from blob: URLs, which is how the app shows downloaded
// attachments), X-Content-Type-Options: nosniff and no-referrer.
//
// Thread-safe: immutable after Load.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>

#include "beast.h"
#include "libchat/result.h"

namespace chat::detail {

class StaticSite {
 public:
  // Bounds on the folder read at start: the app is small, and a mistaken --web-root (/, a home
  // folder) must fail at start rather than fill memory.
  static constexpr std::size_t kMaxFiles = 4096;
  static constexpr std::size_t kMaxTotalBytes = 64 * 1024 * 1024;

  // Reads every regular file below `root` (hidden names, those starting with '.', are skipped;
  // symlinks are followed only to regular files). InvalidArgument if `root` is not a readable folder,
  // holds no index.html, or exceeds the bounds above; the message names the folder.
  static Result<std::shared_ptr<const StaticSite>> Load(const std::string& root);

  // The answer to a GET or HEAD for `req` (the caller handles other methods). 404 for a path that
  // names no file, 400 for a malformed one (bad %-escape, NUL, backslash, "." or ".." segment).
  http::response<http::string_body> Respond(const http::request<http::string_body>& req) const;

  // The release id (16 hex digits), as in the versioned URLs /r/<release>/...
  const std::string& release() const { return release_; }
  std::size_t file_count() const { return files_.size(); }
  std::size_t total_bytes() const { return total_bytes_; }
  const std::string& root() const { return root_; }

 private:
  struct File {
    std::string body;
    std::string content_type;
    std::string etag;    // "\"<sha256 hex>\""
    bool hashed_name = false;  // A bundler's content-hashed name: immutable at any URL.
  };
  StaticSite() = default;

  std::string root_;
  std::string release_;
  std::size_t total_bytes_ = 0;
  std::map<std::string, File> files_;  // Relative path ("index.html", "app/main.js") -> file.
};

// The MIME type chatd sends for a file name (by extension); application/octet-stream if unknown.
std::string ContentTypeFor(const std::string& name);

// Percent-decodes `path` (the part of a request target before '?') and checks it: true with the
// decoded path relative to the site root ("" for "/") if every segment is a plain name; false for
// anything else (a bad escape, NUL, backslash, an empty, "." or ".." segment).
bool NormaliseRequestPath(std::string_view path, std::string* out);

}  // namespace chat::detail

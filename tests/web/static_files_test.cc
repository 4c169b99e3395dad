// chatd serves the web app at / (libchat/server/static_files.h): the index revalidated, release assets
// cached for good, a strict CSP and nosniff on every answer, ETags, HEAD; and no way out of the folder,
// no method but GET and HEAD, no oversized request, each refused cleanly.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>

#include "chatd_process.h"
#include "static_files.h"

using namespace chat;
using namespace chat::test;

namespace {

struct Answer {
  int status = 0;
  std::string head;  // Status line and headers, lower-cased names kept as sent.
  std::string body;
  std::string Header(const std::string& name) const {
    std::regex re("\r\n" + name + ": ([^\r]*)\r\n", std::regex::icase);
    std::smatch m;
    return std::regex_search(head, m, re) ? m[1].str() : std::string();
  }
};

// Sends one raw request (HTTP/1.1, Connection: close) and reads the whole answer.
Answer Raw(std::uint16_t port, const std::string& request_line, const std::string& extra = "") {
  RawTcp tcp(port);
  tcp.Send(request_line + "\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + extra + "\r\n");
  const std::string all = tcp.ReadAll();
  Answer a;
  const auto end = all.find("\r\n\r\n");
  a.head = all.substr(0, end == std::string::npos ? all.size() : end + 2);
  a.body = end == std::string::npos ? "" : all.substr(end + 4);
  if (all.rfind("HTTP/1.1 ", 0) == 0) a.status = std::stoi(all.substr(9, 3));
  return a;
}

// Runs chatd with `args` expecting it to exit at start; returns "<exit code>\n<output>".
std::string FailedStart(const std::string& args) {
  TempDir dir;
  const std::string cmd = std::string("timeout 10 ") + CHATD_PATH + " --listen 127.0.0.1:0 --data-dir " + dir.str() +
                          " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[512];
  while (std::size_t n = fread(buf, 1, sizeof(buf), p)) out.append(buf, n);
  const int status = pclose(p);
  return std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + "\n" + out;
}

}  // namespace

TEST_CASE("the index is served with a strict CSP and no-cache, release assets immutable", "[web][integration]") {
  TempDir data;
  ChatdProcess chatd(data.str(), {"--web-root", LIBCHAT_WEB_ROOT});
  Answer index = Raw(chatd.port(), "GET / HTTP/1.1");
  REQUIRE(index.status == 200);
  CHECK(index.Header("Content-Type") == "text/html; charset=utf-8");
  CHECK(index.Header("Cache-Control") == "no-cache");
  CHECK(index.Header("X-Content-Type-Options") == "nosniff");
  const std::string csp = index.Header("Content-Security-Policy");
  CHECK(csp.find("default-src 'none'") != std::string::npos);
  CHECK(csp.find("script-src 'self'") != std::string::npos);
  CHECK(csp.find("unsafe-inline") == std::string::npos);
  CHECK(csp.find("frame-ancestors 'none'") != std::string::npos);
  CHECK(index.Header("Referrer-Policy") == "no-referrer");
  // The index names its assets under the release.
  std::smatch m;
  REQUIRE(std::regex_search(index.body, m, std::regex("/r/([0-9a-f]{16})/js/main\\.js")));
  const std::string release = m[1].str();
  CHECK(index.body.find("%ASSETS%") == std::string::npos);

  Answer css = Raw(chatd.port(), "GET /r/" + release + "/app.css HTTP/1.1");
  REQUIRE(css.status == 200);
  CHECK(css.Header("Content-Type") == "text/css; charset=utf-8");
  CHECK(css.Header("Cache-Control") == "public, max-age=31536000, immutable");
  Answer js = Raw(chatd.port(), "GET /r/" + release + "/js/main.js HTTP/1.1");
  CHECK(js.Header("Content-Type") == "text/javascript; charset=utf-8");
  // Another release's URL gets today's file, but not for good; the plain path revalidates too.
  Answer old = Raw(chatd.port(), "GET /r/0123456789abcdef/app.css HTTP/1.1");
  CHECK(old.status == 200);
  CHECK(old.Header("Cache-Control") == "no-cache");
  CHECK(old.body == css.body);
  CHECK(Raw(chatd.port(), "GET /app.css HTTP/1.1").Header("Cache-Control") == "no-cache");

  // ETags: a matching If-None-Match is 304 with no body.
  const std::string etag = css.Header("ETag");
  REQUIRE(etag.size() == 66);
  Answer again = Raw(chatd.port(), "GET /r/" + release + "/app.css HTTP/1.1", "If-None-Match: " + etag + "\r\n");
  CHECK(again.status == 304);
  CHECK(again.body.empty());
  // HEAD: the headers of GET, the real length, no body.
  Answer head = Raw(chatd.port(), "HEAD /r/" + release + "/app.css HTTP/1.1");
  CHECK(head.status == 200);
  CHECK(head.Header("Content-Length") == std::to_string(css.body.size()));
  CHECK(head.body.empty());
  // The service worker (offline start) is served from the root, revalidated.
  Answer sw = Raw(chatd.port(), "GET /sw.js HTTP/1.1");
  CHECK(sw.status == 200);
  CHECK(sw.Header("Cache-Control") == "no-cache");
  // The other routes are untouched.
  CHECK(Raw(chatd.port(), "GET /healthz HTTP/1.1").body == "ok\n");
  CHECK(Raw(chatd.port(), "GET /nothing-here.js HTTP/1.1").status == 404);
}

TEST_CASE("no path leaves the web folder, and odd methods and oversized requests are refused cleanly",
          "[web][integration]") {
  TempDir data;
  ChatdProcess chatd(data.str(), {"--web-root", LIBCHAT_WEB_ROOT});
  for (const std::string target : {"/../../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/js/..%2f..%2f..%2fetc%2fpasswd",
                                   "/js/%2e%2e/%2e%2e/CMakeLists.txt", "/./index.html", "/js//main.js", "/%00",
                                   "/js\\..\\..\\etc\\passwd", "/%zz", "/%5c..%5cetc", "//etc/passwd"}) {
    INFO(target);
    Answer a = Raw(chatd.port(), "GET " + target + " HTTP/1.1");
    CHECK((a.status == 400 || a.status == 404));
    CHECK(a.body.find("root:") == std::string::npos);
    CHECK(a.Header("X-Content-Type-Options") == "nosniff");
  }
  // A target that is not a path at all.
  CHECK(Raw(chatd.port(), "GET http://127.0.0.1/etc/passwd HTTP/1.1").status == 400);
  for (const std::string method : {"POST", "PUT", "DELETE", "OPTIONS", "PATCH", "BREW"}) {
    INFO(method);
    Answer a = Raw(chatd.port(), method + " / HTTP/1.1", "Content-Length: 0\r\n");
    CHECK(a.status == 405);
    CHECK(a.Header("Allow") == "GET, HEAD");
  }
  // A header block over the limit, and a body on GET over the small-route limit: the connection
  // closes without an answer, and chatd serves on.
  {
    RawTcp big(chatd.port());
    big.Send("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(64 * 1024, 'a') + "\r\n\r\n");
    CHECK(big.WaitForEnd());
  }
  {
    RawTcp body(chatd.port());
    body.Send("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n");
    CHECK(body.WaitForEnd());
  }
  CHECK(Raw(chatd.port(), "GET / HTTP/1.1").status == 200);
}

TEST_CASE("with --web off no app is served, and a bad --web-root stops chatd at start", "[web][integration]") {
  {
    TempDir data;
    ChatdProcess chatd(data.str(), {"--web", "off"});
    CHECK(Raw(chatd.port(), "GET / HTTP/1.1").status == 404);
    CHECK(Raw(chatd.port(), "GET /healthz HTTP/1.1").status == 200);
  }
  const std::string missing = FailedStart("--web-root /nonexistent/web");
  CHECK(missing.rfind("1\n", 0) == 0);
  CHECK(missing.find("/nonexistent/web") != std::string::npos);
  TempDir empty;
  const std::string no_index = FailedStart("--web-root " + empty.str());
  CHECK(no_index.rfind("1\n", 0) == 0);
  CHECK(no_index.find("no index.html") != std::string::npos);
  CHECK(FailedStart("--web maybe").rfind("2\n", 0) == 0);
  CHECK(FailedStart("--web off --web-root /tmp").rfind("2\n", 0) == 0);
}

TEST_CASE("a web root is read once, hidden files left out, and its paths checked", "[web]") {
  using chat::detail::NormaliseRequestPath;
  std::string rel;
  CHECK(NormaliseRequestPath("/", &rel));
  CHECK(rel.empty());
  CHECK(NormaliseRequestPath("/js/main.js", &rel));
  CHECK(rel == "js/main.js");
  CHECK(NormaliseRequestPath("/a%20b.txt", &rel));
  CHECK(rel == "a b.txt");
  CHECK(NormaliseRequestPath("/dir/", &rel));
  CHECK(rel == "dir/");
  for (const char* bad : {"", "x", "/..", "/a/../b", "/a/./b", "//a", "/a//b", "/%2e%2e", "/%2E%2E/x", "/%", "/%4",
                          "/%g0", "/a%00b", "/a\\b", "/a%5cb"}) {
    INFO(bad);
    CHECK_FALSE(NormaliseRequestPath(bad, &rel));
  }
  CHECK(chat::detail::ContentTypeFor("x.webmanifest") == "application/manifest+json");
  CHECK(chat::detail::ContentTypeFor("noext") == "application/octet-stream");
  CHECK(chat::detail::ContentTypeFor("dir.js/file") == "application/octet-stream");

  TempDir root;
  std::filesystem::create_directories(root.path() / ".git");
  std::ofstream(root.path() / "index.html") << "<script src=\"%ASSETS%/a.js\"></script>";
  std::ofstream(root.path() / "main.3f2a9c1d.js") << "hashed";
  std::ofstream(root.path() / ".secret") << "hidden";
  std::ofstream(root.path() / ".git" / "config") << "hidden";
  auto site = chat::detail::StaticSite::Load(root.str());
  REQUIRE_OK(site);
  CHECK((*site)->file_count() == 2);
  CHECK((*site)->release().size() == 16);
  namespace http = boost::beast::http;
  auto get = [&](const std::string& target) {
    http::request<http::string_body> req{http::verb::get, target, 11};
    return (*site)->Respond(req);
  };
  CHECK(get("/").body() == "<script src=\"/r/" + (*site)->release() + "/a.js\"></script>");
  CHECK(get("/.secret").result() == http::status::not_found);
  CHECK(get("/.git/config").result() == http::status::not_found);
  CHECK(get("/main.3f2a9c1d.js")[http::field::cache_control] == "public, max-age=31536000, immutable");
}

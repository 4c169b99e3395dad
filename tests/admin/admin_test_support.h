// An AdminServer over a test Fixture, on 127.0.0.1 port 0, with a real cpp-httplib client and the
// audit log captured.
#pragma once

#include <httplib.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "libchat/admin.h"
#include "test_support.h"

namespace chat::test {

using Json = nlohmann::json;

constexpr const char* kAdminToken = "test-admin-token-0123456789";

struct HttpReply {
  int status = 0;
  Json json;          // Null unless the body was JSON.
  std::string body;
  httplib::Headers headers;

  std::string ErrorCode() const;  // json.error.code, or "" if absent.
};

class AdminHarness {
 public:
  // backend: "mem" or "leveldb". metrics: what GET /v1/metrics serves; empty for none.
  explicit AdminHarness(const std::string& backend = "mem", std::function<std::string()> metrics = {},
                        AdminOptions options = {});
  ~AdminHarness();

  Fixture& fixture() { return fixture_; }
  ChatService& service() { return *fixture_.service; }
  Store& store() { return *fixture_.store; }
  std::uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // Requests with the admin token (or with `token`, empty for no Authorization header at all).
  HttpReply Get(const std::string& path);
  HttpReply Post(const std::string& path, const std::string& body);
  HttpReply Post(const std::string& path, const char* body) { return Post(path, std::string(body)); }
  HttpReply Post(const std::string& path, const Json& body) { return Post(path, body.dump()); }
  HttpReply GetWithToken(const std::string& path, const std::string& token);
  HttpReply PostWithToken(const std::string& path, const std::string& body, const std::string& token);

  std::vector<std::string> AuditLines();
  // Waits (up to 2 s) for an audit line containing `text`: httplib logs a request after answering it.
  bool WaitForAudit(const std::string& text);

 private:
  Fixture fixture_;
  std::unique_ptr<AdminServer> server_;
  std::uint16_t port_ = 0;
  std::mutex audit_mu_;
  std::vector<std::string> audit_;
};

// A group of a spammer and five reporters, with the spammer's message "buy my watches" in it, not yet
// reported: the start of the spam endpoints' tests.
struct SpamScene {
  Session spammer;
  std::vector<Session> reporters;
  ChatId chat = 0;
  Seq seq = 0;  // The spammer's message.
};
SpamScene NewSpamScene(AdminHarness& h);

}  // namespace chat::test

#include "admin_test_support.h"

#include <chrono>
#include <thread>

namespace chat::test {
namespace {

HttpReply ToReply(const httplib::Result& r) {
  INFO("HTTP error: " << httplib::to_string(r.error()));
  REQUIRE(r);
  HttpReply out;
  out.status = r->status;
  out.body = r->body;
  out.headers = r->headers;
  out.json = Json::parse(r->body, nullptr, false);
  if (out.json.is_discarded()) out.json = nullptr;
  return out;
}

httplib::Headers AuthHeaders(const std::string& token) {
  if (token.empty()) return {};
  return {{"Authorization", "Bearer " + token}};
}

}  // namespace

std::string HttpReply::ErrorCode() const {
  if (!json.is_object() || !json.contains("error")) return "";
  return json["error"].value("code", "");
}

AdminHarness::AdminHarness(const std::string& backend, std::function<std::string()> metrics, AdminOptions options)
    : fixture_(backend) {
  options.port = 0;
  options.token = kAdminToken;
  // Backups copy the attachment files from where the fixture keeps them (as chatd passes its blobs/).
  if (options.blob_dir.empty() && backend == "leveldb") options.blob_dir = (fixture_.dir->path() / "blobs").string();
  options.audit_log = [this](const std::string& line) {
    std::lock_guard lock(audit_mu_);
    audit_.push_back(line);
  };
  auto server = AdminServer::Create(options, *fixture_.service, std::move(metrics));
  REQUIRE_OK(server);
  server_ = std::move(*server);
  auto endpoint = server_->Start();
  REQUIRE_OK(endpoint);
  port_ = endpoint->port;
}

AdminHarness::~AdminHarness() { server_->Stop(); }

HttpReply AdminHarness::Get(const std::string& path) { return GetWithToken(path, kAdminToken); }

HttpReply AdminHarness::Post(const std::string& path, const std::string& body) {
  return PostWithToken(path, body, kAdminToken);
}

HttpReply AdminHarness::GetWithToken(const std::string& path, const std::string& token) {
  httplib::Client c("127.0.0.1", port_);
  return ToReply(c.Get(path.c_str(), AuthHeaders(token)));
}

HttpReply AdminHarness::PostWithToken(const std::string& path, const std::string& body, const std::string& token) {
  httplib::Client c("127.0.0.1", port_);
  return ToReply(c.Post(path.c_str(), AuthHeaders(token), body, "application/json"));
}

std::vector<std::string> AdminHarness::AuditLines() {
  std::lock_guard lock(audit_mu_);
  return audit_;
}

bool AdminHarness::WaitForAudit(const std::string& text) {
  for (int i = 0; i < 200; ++i) {
    for (const auto& line : AuditLines()) {
      if (line.find(text) != std::string::npos) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

SpamScene NewSpamScene(AdminHarness& h) {
  SpamScene scene;
  scene.spammer = h.fixture().NewUser("spammer");
  std::vector<UserId> ids;
  for (int i = 0; i < 5; ++i) {
    scene.reporters.push_back(h.fixture().NewUser("reporter" + std::to_string(i)));
    ids.push_back(scene.reporters.back().user.id);
  }
  h.fixture().clock.Advance(8 * kMsPerDay);  // Established reporters: their reports count in full.
  auto chat = h.service().CreateGroup(scene.spammer.user.id, "g", ids);
  REQUIRE_OK(chat);
  scene.chat = chat->id;
  auto sent = h.service().Send(TextMessage(scene.spammer, scene.chat, "m1", "buy my watches"));
  REQUIRE_OK(sent);
  scene.seq = sent->message.seq;
  return scene;
}

}  // namespace chat::test

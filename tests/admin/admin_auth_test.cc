// The admin API's front door: the token, typed errors for what is malformed, body limits, the
// listener's lifecycle.
#include "admin_test_support.h"

using namespace chat;
using chat::test::AdminHarness;
using chat::test::kAdminToken;

TEST_CASE("admin requests without the token, or with a wrong one, are refused with 401", "[admin][auth]") {
  AdminHarness h;
  auto none = h.GetWithToken("/v1/users", "");
  CHECK(none.status == 401);
  CHECK(none.ErrorCode() == "unauthenticated");
  CHECK(none.headers.count("WWW-Authenticate") == 1);

  CHECK(h.GetWithToken("/v1/users", "not-the-admin-token-at-all").status == 401);
  CHECK(h.GetWithToken("/v1/users", std::string(kAdminToken) + "x").status == 401);
  CHECK(h.GetWithToken("/v1/users", std::string(kAdminToken).substr(1)).status == 401);

  // Another scheme, or the bare token, is not a bearer token.
  httplib::Client c("127.0.0.1", h.port());
  auto basic = c.Get("/v1/users", {{"Authorization", std::string("Basic ") + kAdminToken}});
  REQUIRE(basic);
  CHECK(basic->status == 401);
  auto bare = c.Get("/v1/users", {{"Authorization", kAdminToken}});
  REQUIRE(bare);
  CHECK(bare->status == 401);
  // The scheme is case-insensitive (RFC 6750).
  auto lower = c.Get("/v1/users", {{"Authorization", std::string("bearer ") + kAdminToken}});
  REQUIRE(lower);
  CHECK(lower->status == 200);

  CHECK(h.Get("/v1/users").status == 200);
}

TEST_CASE("every admin endpoint refuses a request without the token, or with a wrong one, with 401",
          "[admin][auth]") {
  AdminHarness h;
  auto user = h.service().Register({"alice", "password-123", "", "", ""});
  REQUIRE(user.ok());
  const std::string u = "/v1/users/" + std::to_string(user->id);
  // Every route of AddUserRoutes, AddChatRoutes, AddInboxRoutes, AddOperationRoutes and
  // AddProvisionRoutes (they all go through the one Dispatch that checks the token).
  const std::vector<std::pair<std::string, std::string>> routes = {
      {"GET", "/v1/users"},          {"POST", "/v1/users"},         {"GET", u},
      {"GET", "/v1/users/by-name/alice"}, {"POST", u + "/disable"}, {"POST", u + "/enable"},
      {"GET", u + "/devices"},       {"POST", u + "/revoke"},       {"GET", "/v1/chats"},
      {"GET", "/v1/chats/1"},        {"GET", "/v1/chats/1/members"}, {"GET", "/v1/chats/1/messages"},
      {"GET", "/v1/inbox"},          {"POST", "/v1/retention/run"}, {"POST", "/v1/backup"},
      {"GET", "/v1/stats"},          {"GET", "/v1/metrics"},        {"POST", "/v1/provision"},
      {"POST", u + "/ban"},          {"POST", u + "/unban"},        {"GET", "/v1/bans"},
      {"GET", "/v1/spam/flagged"},   {"GET", "/v1/spam/reports"},   {"POST", u + "/unflag"},
  };
  for (const auto& [method, path] : routes) {
    for (const std::string& token : {std::string(), std::string("wrong-token-but-long-enough")}) {
      INFO(method << " " << path << (token.empty() ? " without a token" : " with a wrong token"));
      auto r = method == "GET" ? h.GetWithToken(path, token) : h.PostWithToken(path, R"({"username":"mallory"})", token);
      CHECK(r.status == 401);
      CHECK(r.ErrorCode() == "unauthenticated");
    }
  }
  // Nothing changed: alice is enabled with her device list intact, no mallory.
  auto alice = h.service().FindUser("alice");
  REQUIRE(alice.ok());
  CHECK_FALSE(alice->disabled);
  CHECK(h.service().FindUser("mallory").status().IsNotFound());
}

TEST_CASE("an unauthenticated write changes nothing", "[admin][auth]") {
  AdminHarness h;
  auto r = h.PostWithToken("/v1/users", R"({"username":"mallory","password":"password-123"})", "wrong-token-xxxxxxxx");
  CHECK(r.status == 401);
  CHECK(h.service().FindUser("mallory").status().IsNotFound());
  // Every request is audited, refused ones included; the token itself never is.
  CHECK(h.WaitForAudit("POST /v1/users 401"));
  for (const auto& line : h.AuditLines()) CHECK(line.find(kAdminToken) == std::string::npos);
}

TEST_CASE("unknown endpoints are 404 with a JSON error, but 401 to a caller without the token", "[admin][auth]") {
  AdminHarness h;
  auto r = h.Get("/v1/nothing-here");
  CHECK(r.status == 404);
  CHECK(r.ErrorCode() == "not_found");
  CHECK(h.GetWithToken("/v1/nothing-here", "").status == 401);
  CHECK(h.Post("/v1/chats", "{}").status == 404);  // Chats are not created here.
}

TEST_CASE("malformed requests get 400 malformed_request and change nothing", "[admin][input]") {
  AdminHarness h;
  struct Case {
    const char* body;
    const char* what;
  };
  const Case cases[] = {
      {"{not json", "not valid JSON"},
      {"[1,2]", "must be a JSON object"},
      {"\"just a string\"", "must be a JSON object"},
      {R"({"username":42,"password":"password-123"})", "'username' must be a string"},
      {R"({"username":"bob"})", "'password' is required"},
      {R"({"username":"bob","password":"password-123","admin":true})", "unknown field 'admin'"},
      {R"({"username":"bob","password":null})", "must be a string, not null"},
  };
  for (const auto& c : cases) {
    INFO(c.body);
    auto r = h.Post("/v1/users", c.body);
    CHECK(r.status == 400);
    CHECK(r.ErrorCode() == "malformed_request");
    CHECK(r.json["error"]["message"].get<std::string>().find(c.what) != std::string::npos);
  }
  CHECK(h.service().FindUser("bob").status().IsNotFound());

  // Query strings are checked as strictly.
  CHECK(h.Get("/v1/users?limit=abc").ErrorCode() == "malformed_request");
  CHECK(h.Get("/v1/users?limit=0").ErrorCode() == "malformed_request");
  CHECK(h.Get("/v1/users?limit=-1").ErrorCode() == "malformed_request");
  CHECK(h.Get("/v1/users?limit=100000000").ErrorCode() == "malformed_request");
  CHECK(h.Get("/v1/users?after=99999999999999999999999").ErrorCode() == "malformed_request");
  CHECK(h.Get("/v1/users?sort=name").ErrorCode() == "malformed_request");
  CHECK(h.Get("/v1/users?limit=1&limit=2").ErrorCode() == "malformed_request");
  CHECK(h.Get("/v1/users/99999999999999999999999").ErrorCode() == "malformed_request");
  CHECK(h.Get("/v1/users/0").ErrorCode() == "malformed_request");
}

TEST_CASE("a body that is not declared as JSON is refused with 415", "[admin][input]") {
  AdminHarness h;
  httplib::Client c("127.0.0.1", h.port());
  auto r = c.Post("/v1/users", {{"Authorization", std::string("Bearer ") + kAdminToken}},
                  "username=bob&password=password-123", "application/x-www-form-urlencoded");
  REQUIRE(r);
  CHECK(r->status == 415);
  CHECK(r->body.find("unsupported_media_type") != std::string::npos);
  CHECK(h.service().FindUser("bob").status().IsNotFound());
}

TEST_CASE("an oversized body is refused with 413 before it is read", "[admin][input]") {
  AdminOptions options;
  options.max_body_bytes = 4096;
  AdminHarness h("mem", {}, options);
  const std::string big = R"({"username":"bob","password":"password-123","displayName":")" + std::string(8000, 'x') +
                          "\"}";
  auto r = h.Post("/v1/users", big);
  CHECK(r.status == 413);
  CHECK(r.ErrorCode() == "payload_too_large");
  CHECK(h.service().FindUser("bob").status().IsNotFound());
  // The server is still fine afterwards.
  CHECK(h.Get("/v1/users").status == 200);
}

TEST_CASE("an oversized body without the token is a 401, not a 413: strangers learn nothing first", "[admin][auth]") {
  AdminOptions options;
  options.max_body_bytes = 4096;
  AdminHarness h("mem", {}, options);
  const std::string big = R"({"username":"bob","password":"password-123","displayName":")" + std::string(8000, 'x') +
                          "\"}";
  auto stranger = h.PostWithToken("/v1/users", big, "");
  CHECK(stranger.status == 401);
  auto wrong = h.PostWithToken("/v1/users", big, "wrong-token-0123456789abcdef");
  CHECK(wrong.status == 401);
  CHECK(h.Post("/v1/users", big).status == 413);
}

TEST_CASE("deeply nested JSON is refused without harm", "[admin][input]") {
  AdminHarness h;
  auto r = h.Post("/v1/users", std::string(30000, '[') + std::string(30000, ']'));
  CHECK(r.status == 400);
  // An object is what a body must be; one that nests 33 deep is refused before it is parsed, with the
  // same typed error as any malformed body, and creates nothing.
  const std::string deep = std::string(32, '[') + std::string(32, ']');
  auto nested = h.Post("/v1/users", R"({"username":"nested","password":"password-123","x":)" + deep + "}");
  CHECK(nested.status == 400);
  CHECK(nested.ErrorCode() == "malformed_request");
  CHECK(nested.json.at("error").at("message").get<std::string>().find("deeper than 32") != std::string::npos);
  CHECK(h.service().FindUser("nested").status().IsNotFound());
  // 32 levels are fine (the unknown field is then refused on its own terms, not for its depth).
  auto fits = h.Post("/v1/users", R"({"username":"nested","password":"password-123","x":)" + deep.substr(1, 62) + "}");
  CHECK(fits.json.dump().find("deeper") == std::string::npos);
  CHECK(h.Get("/v1/users").status == 200);
}

TEST_CASE("AdminServer refuses weak tokens and double starts, reports a taken port, stops cleanly", "[admin][lifecycle]") {
  test::Fixture f("mem");
  AdminOptions weak;
  weak.token = "short";
  CHECK_CODE(AdminServer::Create(weak, *f.service), StatusCode::kInvalidArgument);
  // Long enough, but not a secret: a repeated character or pattern.
  for (const char* guessable : {"aaaaaaaaaaaaaaaa", "abababababababab", "0000000000000000000000000000000000000000",
                                "abcabcabcabcabcabcab"}) {
    AdminOptions o;
    o.token = guessable;
    INFO(guessable);
    CHECK_CODE(AdminServer::Create(o, *f.service), StatusCode::kInvalidArgument);
  }
  AdminOptions none;
  CHECK_CODE(AdminServer::Create(none, *f.service), StatusCode::kInvalidArgument);

  AdminOptions o;
  o.port = 0;
  o.token = kAdminToken;
  o.audit_log = [](const std::string&) {};
  auto a = AdminServer::Create(o, *f.service);
  REQUIRE_OK(a);
  auto endpoint = (*a)->Start();
  REQUIRE_OK(endpoint);
  CHECK(endpoint->port != 0);
  CHECK(endpoint->address == "127.0.0.1");
  CHECK_CODE((*a)->Start(), StatusCode::kFailedPrecondition);

  // A second server on the same port must fail, not share it.
  AdminOptions same = o;
  same.port = endpoint->port;
  auto b = AdminServer::Create(same, *f.service);
  REQUIRE_OK(b);
  CHECK_CODE((*b)->Start(), StatusCode::kUnavailable);

  (*a)->Stop();
  (*a)->Stop();  // Idempotent.
  httplib::Client c("127.0.0.1", endpoint->port);
  c.set_connection_timeout(1);
  CHECK_FALSE(c.Get("/v1/users"));

  // Created but never started: destroying it is fine.
  auto never = AdminServer::Create(o, *f.service);
  REQUIRE_OK(never);
}

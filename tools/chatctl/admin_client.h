// chatctl's client of the admin HTTP API (docs/admin.md), on cpp-httplib. Turns the API's typed
// errors back into Status values and transport failures into Unavailable.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "libchat/result.h"

namespace httplib {
class Client;
}

namespace chat::ctl {

// "http://host:port[/prefix]" split into the origin httplib wants and a path prefix.
struct HttpUrl {
  std::string origin;  // "http://127.0.0.1:8081"
  std::string prefix;  // "" or "/admin" (no trailing slash)
};
// InvalidArgument unless `url` is http:// or https:// with a host.
Result<HttpUrl> ParseHttpUrl(const std::string& url);

// GET of a plain-text URL (e.g. chatd's /metrics): the body on 200, else Unavailable/NotFound/...
Result<std::string> FetchText(const std::string& url, int timeout_seconds);

class AdminClient {
 public:
  // REQUIRES: token non-empty.
  static Result<std::unique_ptr<AdminClient>> Create(const std::string& url, std::string token, int timeout_seconds);
  ~AdminClient();

  // `path` starts with "/v1/"; query included. The response's JSON on 2xx. Otherwise the API's error
  // as a Status (its code from the error code, its message from the error message), or Unavailable
  // if the API cannot be reached.
  Result<nlohmann::ordered_json> Get(const std::string& path);
  Result<nlohmann::ordered_json> Post(const std::string& path, const nlohmann::ordered_json& body);
  Result<nlohmann::ordered_json> Delete(const std::string& path);

 private:
  AdminClient() = default;

  std::string url_;
  std::string prefix_;
  std::string token_;
  std::unique_ptr<httplib::Client> client_;
};

}  // namespace chat::ctl

// A real HTTP server on 127.0.0.1 (cpp-httplib, port chosen by the OS) standing in for a push
// provider: it records every request and answers as the test scripts it.
#pragma once

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "test_support.h"  // Eventually

#include <nlohmann/json.hpp>

namespace chat::test {

struct RecordedRequest {
  std::string method;
  std::string path;
  std::multimap<std::string, std::string, httplib::detail::ci> headers;
  std::string body;
  int answered = 0;  // The status the gateway answered with.

  std::string Header(const std::string& name) const;
  nlohmann::json Json() const { return nlohmann::json::parse(body); }
};

struct Answer {
  int status = 200;
  std::string body = "{}";
};

class RecordingGateway {
 public:
  using Responder = std::function<Answer(const RecordedRequest&, int index)>;

  // Binds 127.0.0.1 on a free port and starts serving; answers 200 "{}" until told otherwise.
  RecordingGateway();
  // The same over TLS with this certificate and key (PEM files).
  RecordingGateway(const std::string& cert_file, const std::string& key_file);
  // Stops the server and joins its thread.
  ~RecordingGateway();

  int port() const { return port_; }
  std::string base_url() const { return (tls_ ? "https" : "http") + std::string("://127.0.0.1:") + std::to_string(port_); }

  // `responder` sees each request and its index among all requests so far (0-based).
  void SetResponder(Responder responder);
  // Answers the first n requests with `status`, then 200.
  void FailFirst(int n, int status, const std::string& body = "{}");

  std::vector<RecordedRequest> Requests() const;
  // Requests whose path starts with prefix.
  std::vector<RecordedRequest> Requests(const std::string& path_prefix) const;
  // Waits (really: requests come from libcurl's thread) until at least n requests arrived, or the
  // deadline passes. Returns the count then.
  std::size_t WaitForRequests(std::size_t n, std::chrono::milliseconds deadline = std::chrono::seconds(10)) const;

 private:
  void Serve();

  std::unique_ptr<httplib::Server> server_;
  bool tls_ = false;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<RecordedRequest> requests_;
  Responder responder_;
};


}  // namespace chat::test

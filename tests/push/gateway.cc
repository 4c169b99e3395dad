#include "gateway.h"

#include <stdexcept>

namespace chat::test {

std::string RecordedRequest::Header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? "" : it->second;
}

RecordingGateway::RecordingGateway() : server_(std::make_unique<httplib::Server>()) { Serve(); }

RecordingGateway::RecordingGateway(const std::string& cert_file, const std::string& key_file)
    : server_(std::make_unique<httplib::SSLServer>(cert_file.c_str(), key_file.c_str())), tls_(true) {
  if (!server_->is_valid()) throw std::runtime_error("gateway: bad certificate or key");
  Serve();
}

void RecordingGateway::Serve() {
  server_->Post(".*", [this](const httplib::Request& req, httplib::Response& res) {
    RecordedRequest r;
    r.method = req.method;
    r.path = req.path;
    r.headers = req.headers;
    r.body = req.body;
    std::unique_lock lock(mu_);
    int index = static_cast<int>(requests_.size());
    Answer a = responder_ ? responder_(r, index) : Answer{};
    r.answered = a.status;
    requests_.push_back(std::move(r));
    lock.unlock();
    cv_.notify_all();
    res.status = a.status;
    res.set_content(a.body, "application/json");
  });
  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) throw std::runtime_error("gateway: cannot bind 127.0.0.1");
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // stop() is a no-op until the accept loop runs: a test over before then would hang in the
  // destructor. The socket already listens, so this is only about shutting down.
  if (!Eventually([this] { return server_->is_running(); })) throw std::runtime_error("gateway: did not start");
}

RecordingGateway::~RecordingGateway() {
  server_->stop();
  thread_.join();
}

void RecordingGateway::SetResponder(Responder responder) {
  std::lock_guard lock(mu_);
  responder_ = std::move(responder);
}

void RecordingGateway::FailFirst(int n, int status, const std::string& body) {
  SetResponder([n, status, body](const RecordedRequest&, int index) {
    return index < n ? Answer{status, body} : Answer{};
  });
}

std::vector<RecordedRequest> RecordingGateway::Requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

std::vector<RecordedRequest> RecordingGateway::Requests(const std::string& prefix) const {
  std::vector<RecordedRequest> out;
  for (auto& r : Requests()) {
    if (r.path.rfind(prefix, 0) == 0) out.push_back(r);
  }
  return out;
}

std::size_t RecordingGateway::WaitForRequests(std::size_t n, std::chrono::milliseconds deadline) const {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, deadline, [&] { return requests_.size() >= n; });
  return requests_.size();
}


}  // namespace chat::test

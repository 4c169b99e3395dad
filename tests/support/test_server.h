// A chatd process in its own temporary data folder, restartable on the same data.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "chatd_process.h"

namespace chat::test {

class TestServer {
 public:
  explicit TestServer(std::vector<std::string> args = {}) : args_(std::move(args)) { Restart(); }

  ChatdProcess& chatd() { return *process_; }
  std::uint16_t port() const { return process_->port(); }
  const std::string data_dir() const { return dir_.str(); }

  // Starts chatd (again) on the same data folder; a running one is killed first.
  void Restart() {
    process_.reset();
    process_.emplace(dir_.str(), args_);
  }

 private:
  TempDir dir_;  // Declared first: removed only after the process is gone.
  std::vector<std::string> args_;
  std::optional<ChatdProcess> process_;
};

}  // namespace chat::test

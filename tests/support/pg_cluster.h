// PgCluster: a throw-away PostgreSQL 15 server for tests, started by this code and stopped by its
// PID: initdb in a private temporary folder (run as the `postgres` user when the tests run as root,
// since PostgreSQL refuses root), a free port on 127.0.0.1, pg_ctl to start it. Also a standby of
// one (pg_basebackup), for the failover test.
//
// The test suite shares one server among the tests of a ctest run (a CTest fixture starts it with
// `pg_cluster_ctl start DIR` and stops it at the end; SharedPgCluster() finds it through
// LIBCHAT_TEST_PG_STATE). A test binary run on its own starts a private one on first use. Each test
// gets a database of its own (NewDatabase), so tests never see each other's data.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "libchat/result.h"
#include "test_support.h"

namespace chat::test {

class PgCluster {
 public:
  struct Options {
    // fsync and full-page writes: off where durability is not under test (faster, and a lost
    // throw-away cluster costs nothing). Never off for the crash and failover tests.
    bool durable = false;
    // Extra `-c name=value` server settings.
    std::vector<std::string> settings;
  };

  // initdb + start. Unavailable if PostgreSQL's binaries are missing or the server does not start.
  static Result<std::unique_ptr<PgCluster>> Start(const Options& options);
  // A streaming standby of `primary` (pg_basebackup), reporting to it as `name`.
  static Result<std::unique_ptr<PgCluster>> StartStandby(const PgCluster& primary, const std::string& name,
                                                         const Options& options);
  // Adopts a server started by another process (pg_cluster_ctl), described by its state file.
  static Result<std::unique_ptr<PgCluster>> Attach(const std::string& state_file);

  // Stops the server (if this object started it) and removes its folder.
  ~PgCluster();
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  const std::string& dir() const { return dir_; }
  // postgres://postgres@127.0.0.1:PORT/DB
  std::string Uri(const std::string& db) const;
  // A libpq connection string for `db`.
  std::string Conninfo(const std::string& db) const;

  // A new, empty database (with the store's schema when `with_schema`: a copy of a template made
  // once per server, cheaper than creating the schema in each).
  Result<std::string> NewDatabase(bool with_schema = true);
  Status DropDatabase(const std::string& db);
  // Runs SQL (several statements allowed) in `db`; returns the first column of the first row, or "".
  Result<std::string> Sql(const std::string& sql, const std::string& db = "postgres") const;

  // Writes the state file that Attach reads.
  Status WriteState(const std::string& state_file) const;
  // SIGKILL of the postmaster (after checking /proc/PID/comm), as a crash would; waits for it to go.
  void Kill9();
  // Fast shutdown (SIGINT) and wait; then SIGKILL if it lingers. Idempotent.
  void Stop();
  // Starts the server again on the same folder and port (after Stop or Kill9).
  Status Restart();
  // Promotes a standby to primary and waits until it accepts writes.
  Status Promote();
  // Whether destroying this object stops the server and removes its folder (true for Start; false
  // for Attach, and for a server a fixture hands on to later processes).
  void set_owned(bool owned) { owned_ = owned; }

 private:
  PgCluster() = default;
  Status StartServer();

  std::string dir_;   // The temporary folder: data/, socket/, log.
  int port_ = 0;
  pid_t pid_ = -1;
  bool owned_ = true;  // Started (and to be stopped) by this object.
  bool template_ready_ = false;
  Options options_;
  std::vector<std::string> extra_;  // Settings for every start (a standby's primary_conninfo).
};

// The PostgreSQL server shared by this test process: the ctest fixture's (found through
// LIBCHAT_TEST_PG_STATE), else one started on first use and stopped at exit. REQUIREs that it runs.
// Defined in registry_plugins.cc (with Catch2): in tests that link every plugin.
PgCluster& SharedPgCluster();

// PostgreSQL's state changes (a restarted server, a vacuum) take seconds: polls `ready` for up to 20 s.
inline bool PgEventually(const std::function<bool()>& ready) {
  return Eventually(ready, std::chrono::seconds(20), std::chrono::milliseconds(50));
}

}  // namespace chat::test

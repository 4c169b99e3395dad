// What the tests of several chatd nodes share: a NATS subject prefix of their own and a PostgreSQL
// database of their own on the run's server.
#pragma once

#include <random>
#include <string>

#include "pg_cluster.h"
#include "test_support.h"

namespace chat::test {

// A prefix no other test uses: tests sharing the run's NATS cluster never see each other's events
// or buckets.
inline std::string UniquePrefix() {
  std::random_device rd;
  return "c" + std::to_string(rd()) + std::to_string(rd());
}

// A database of its own on the run's PostgreSQL server, dropped at the end.
struct Database {
  Database() {
    auto made = SharedPgCluster().NewDatabase();
    REQUIRE_OK(made);
    name = *made;
    uri = SharedPgCluster().Uri(name) + "?pool=4";
  }
  ~Database() { SharedPgCluster().DropDatabase(name).IgnoreError(); }
  std::string name;
  std::string uri;
};

}  // namespace chat::test

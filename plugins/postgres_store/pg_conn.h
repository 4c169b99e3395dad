// A thin, exception-free layer over libpq: one connection, binary parameters and results, prepared
// statements cached per connection, and pipeline mode (many statements, one round trip). Everything
// libpq reports is turned into a Status here; nothing above this file sees a PGresult.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "libchat/result.h"
#include "libchat/status.h"

struct pg_conn;
struct pg_result;

namespace chat::pg {

// How long a caller should wait before retrying after the database went away (Status::retry_after_ms).
constexpr std::int64_t kRetryAfterMs = 1000;

// Query parameters, sent in PostgreSQL's binary format with their types declared, so that no value
// is ever parsed from text (bodies are bytes, not SQL) and integers keep all 64 bits.
class Params {
 public:
  Params& Int(std::int64_t v);
  Params& Uint(std::uint64_t v) { return Int(static_cast<std::int64_t>(v)); }
  Params& Bool(bool v);
  Params& Float(double v);
  Params& Text(std::string_view v);   // text: identifiers and hex strings only (valid UTF-8, no NUL)
  Params& Bytes(std::string_view v);  // bytea: anything a user wrote
  Params& IntArray(const std::vector<std::int64_t>& v);
  Params& BoolArray(const std::vector<bool>& v);
  Params& TextArray(const std::vector<std::string>& v);
  Params& BytesArray(const std::vector<std::string>& v);

  int size() const { return static_cast<int>(types_.size()); }
  const unsigned* types() const { return types_.data(); }
  // Valid until the next Add: pointers into values_.
  std::vector<const char*> Values() const;
  const int* lengths() const { return lengths_.data(); }
  const int* formats() const { return formats_.data(); }

 private:
  Params& Add(unsigned type, std::string value);
  template <typename T, typename Encode>
  Params& Array(unsigned array_type, unsigned element_type, const std::vector<T>& v, Encode encode);

  std::vector<unsigned> types_;
  std::vector<std::string> values_;
  std::vector<int> lengths_;
  std::vector<int> formats_;
};

// The rows of one statement, in binary format. Accessors take (row, column) and decode the column's
// declared type; a column of another type is a programming error (checked by assert).
class Rows {
 public:
  Rows() = default;
  explicit Rows(pg_result* res);
  ~Rows();
  Rows(Rows&& other) noexcept;
  Rows& operator=(Rows&& other) noexcept;
  Rows(const Rows&) = delete;
  Rows& operator=(const Rows&) = delete;

  int size() const;
  bool empty() const { return size() == 0; }
  // Rows changed by an INSERT, UPDATE or DELETE without RETURNING.
  std::uint64_t affected() const;
  bool IsNull(int row, int col) const;
  // int2, int4 or int8; 0 for NULL.
  std::int64_t Int(int row, int col) const;
  std::uint64_t Uint(int row, int col) const { return static_cast<std::uint64_t>(Int(row, col)); }
  bool Bool(int row, int col) const;
  double Float(int row, int col) const;
  // text or bytea; "" for NULL.
  std::string Str(int row, int col) const;
  // text[] or bytea[]; empty for NULL.
  std::vector<std::string> StrArray(int row, int col) const;

 private:
  std::string_view Raw(int row, int col) const;
  pg_result* res_ = nullptr;
};

// One statement of a pipeline.
struct Statement {
  std::string sql;
  Params params;
};

// A libpq connection. Not thread-safe: one user at a time (the pool hands it out).
class Conn {
 public:
  // Connects with a libpq connection string or URI. Unavailable (with a retry hint) if the server
  // cannot be reached or is not accepting connections; InvalidArgument for a malformed conninfo.
  static Result<std::unique_ptr<Conn>> Open(const std::string& conninfo);
  ~Conn();
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // Runs one statement (prepared on first use on this connection) and returns its rows. The error
  // of the statement as a Status (see ToStatus in pg_conn.cc for the mapping of SQLSTATEs).
  Result<Rows> Exec(std::string_view sql, const Params& params = {});
  // Runs `sql` with the simple query protocol: several statements, no parameters (DDL, BEGIN).
  Status Script(std::string_view sql);
  // Sends every query, then one sync, in pipeline mode: one round trip for all of them. Returns the
  // rows of each, or the first error (the statements after a failed one are skipped by the server;
  // in a transaction the whole transaction is then aborted).
  Result<std::vector<Rows>> Pipeline(const std::vector<Statement>& queries);

  // True once the connection failed at the protocol level: it must be discarded.
  bool broken() const;
  // The SQLSTATE of the last statement that failed on this connection (e.g. "23505" for a unique
  // violation), and the constraint it named, if any; "" when none.
  const std::string& last_sqlstate() const { return last_sqlstate_; }
  const std::string& last_constraint() const { return last_constraint_; }
  // The server's process id (for logs and tests).
  int backend_pid() const;

 private:
  explicit Conn(pg_conn* c) : conn_(c) {}
  // The name of the prepared statement for `sql`, preparing it first if needed (outside any
  // pipeline: a prepare that failed inside one would be indistinguishable from the statement's error).
  Result<std::string> Prepared(std::string_view sql, const Params& params);
  // The Status of a failed result (or of the connection, for a null one); records its SQLSTATE.
  Status Error(pg_result* res, std::string_view what);

  pg_conn* conn_;
  std::unordered_map<std::string, std::string> prepared_;
  std::string last_sqlstate_;
  std::string last_constraint_;
};

}  // namespace chat::pg

#include "pg_conn.h"

#include <libpq-fe.h>

#include <bit>
#include <cassert>
#include <cstring>

namespace chat::pg {
namespace {

// Type OIDs (src/include/catalog/pg_type.dat); stable across PostgreSQL versions.
constexpr unsigned kBool = 16, kBytea = 17, kInt8 = 20, kInt2 = 21, kInt4 = 23, kText = 25, kFloat8 = 701;
constexpr unsigned kBoolArray = 1000, kByteaArray = 1001, kTextArray = 1009, kInt8Array = 1016;

void PutBE32(std::string* s, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) s->push_back(static_cast<char>((v >> shift) & 0xff));
}
void PutBE64(std::string* s, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) s->push_back(static_cast<char>((v >> shift) & 0xff));
}
std::uint64_t GetBE(const char* p, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

std::string Trimmed(const char* msg) {
  std::string s = msg != nullptr ? msg : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// What a failed statement means to a caller. The database being away, restarting, read-only (a
// standby not yet promoted) or out of connections is retryable; so are serialisation failures and
// deadlocks, which a retry resolves.
StatusCode CodeFor(std::string_view state) {
  if (state.size() != 5) return StatusCode::kUnavailable;  // No SQLSTATE: the connection failed.
  const std::string_view cls = state.substr(0, 2);
  if (cls == "08" || cls == "53" || cls == "57" || cls == "40" || state == "25006" || state == "55P03" ||
      state == "58030") {
    return StatusCode::kUnavailable;
  }
  if (state == "23505") return StatusCode::kAlreadyExists;
  if (cls == "22" || cls == "23") return StatusCode::kInvalidArgument;
  if (state == "42P01" || state == "42883" || state == "3F000") return StatusCode::kFailedPrecondition;
  return StatusCode::kInternal;
}

}  // namespace

// ---------------------------------------------------------------- Params

Params& Params::Add(unsigned type, std::string value) {
  types_.push_back(type);
  lengths_.push_back(static_cast<int>(value.size()));
  formats_.push_back(1);
  values_.push_back(std::move(value));
  return *this;
}

Params& Params::Int(std::int64_t v) {
  std::string s;
  PutBE64(&s, static_cast<std::uint64_t>(v));
  return Add(kInt8, std::move(s));
}
Params& Params::Bool(bool v) { return Add(kBool, std::string(1, v ? '\1' : '\0')); }
Params& Params::Float(double v) {
  std::string s;
  PutBE64(&s, std::bit_cast<std::uint64_t>(v));
  return Add(kFloat8, std::move(s));
}
Params& Params::Text(std::string_view v) { return Add(kText, std::string(v)); }
Params& Params::Bytes(std::string_view v) { return Add(kBytea, std::string(v)); }

template <typename T, typename Encode>
Params& Params::Array(unsigned array_type, unsigned element_type, const std::vector<T>& v, Encode encode) {
  // One-dimensional array in binary form: ndim, has-nulls flag, element type, then (size, lower
  // bound) per dimension and each element as length + bytes. An empty array has no dimensions.
  std::string s;
  PutBE32(&s, v.empty() ? 0 : 1);
  PutBE32(&s, 0);
  PutBE32(&s, element_type);
  if (!v.empty()) {
    PutBE32(&s, static_cast<std::uint32_t>(v.size()));
    PutBE32(&s, 1);
  }
  for (const auto& e : v) {
    std::string elem = encode(e);
    PutBE32(&s, static_cast<std::uint32_t>(elem.size()));
    s += elem;
  }
  return Add(array_type, std::move(s));
}

Params& Params::IntArray(const std::vector<std::int64_t>& v) {
  return Array(kInt8Array, kInt8, v, [](std::int64_t x) {
    std::string s;
    PutBE64(&s, static_cast<std::uint64_t>(x));
    return s;
  });
}
Params& Params::BoolArray(const std::vector<bool>& v) {
  return Array(kBoolArray, kBool, v, [](bool x) { return std::string(1, x ? '\1' : '\0'); });
}
Params& Params::TextArray(const std::vector<std::string>& v) {
  return Array(kTextArray, kText, v, [](const std::string& x) { return x; });
}
Params& Params::BytesArray(const std::vector<std::string>& v) {
  return Array(kByteaArray, kBytea, v, [](const std::string& x) { return x; });
}

std::vector<const char*> Params::Values() const {
  std::vector<const char*> out;
  out.reserve(values_.size());
  for (const auto& v : values_) out.push_back(v.data());
  return out;
}

// ---------------------------------------------------------------- Rows

Rows::Rows(pg_result* res) : res_(res) {}
Rows::~Rows() {
  if (res_ != nullptr) PQclear(res_);
}
Rows::Rows(Rows&& other) noexcept : res_(other.res_) { other.res_ = nullptr; }
Rows& Rows::operator=(Rows&& other) noexcept {
  if (this != &other) {
    if (res_ != nullptr) PQclear(res_);
    res_ = other.res_;
    other.res_ = nullptr;
  }
  return *this;
}

int Rows::size() const { return res_ == nullptr ? 0 : PQntuples(res_); }

std::uint64_t Rows::affected() const {
  if (res_ == nullptr) return 0;
  const char* n = PQcmdTuples(res_);
  return n != nullptr && *n != '\0' ? std::strtoull(n, nullptr, 10) : 0;
}

bool Rows::IsNull(int row, int col) const { return PQgetisnull(res_, row, col) != 0; }

std::string_view Rows::Raw(int row, int col) const {
  if (PQgetisnull(res_, row, col)) return {};
  return std::string_view(PQgetvalue(res_, row, col), static_cast<std::size_t>(PQgetlength(res_, row, col)));
}

std::int64_t Rows::Int(int row, int col) const {
  std::string_view v = Raw(row, col);
  if (v.empty()) return 0;
  switch (PQftype(res_, col)) {
    case kInt2:
      return static_cast<std::int16_t>(GetBE(v.data(), 2));
    case kInt4:
      return static_cast<std::int32_t>(GetBE(v.data(), 4));
    default:
      assert(PQftype(res_, col) == kInt8);
      return static_cast<std::int64_t>(GetBE(v.data(), 8));
  }
}

bool Rows::Bool(int row, int col) const {
  std::string_view v = Raw(row, col);
  return !v.empty() && v[0] != 0;
}

double Rows::Float(int row, int col) const {
  std::string_view v = Raw(row, col);
  if (v.size() != 8) return 0;
  return std::bit_cast<double>(GetBE(v.data(), 8));
}

std::string Rows::Str(int row, int col) const { return std::string(Raw(row, col)); }

std::vector<std::string> Rows::StrArray(int row, int col) const {
  std::vector<std::string> out;
  std::string_view v = Raw(row, col);
  if (v.size() < 12) return out;
  const std::uint32_t ndim = static_cast<std::uint32_t>(GetBE(v.data(), 4));
  if (ndim == 0) return out;
  std::size_t pos = 12;
  std::uint32_t count = 1;
  for (std::uint32_t d = 0; d < ndim && pos + 8 <= v.size(); ++d, pos += 8) {
    count *= static_cast<std::uint32_t>(GetBE(v.data() + pos, 4));
  }
  for (std::uint32_t i = 0; i < count && pos + 4 <= v.size(); ++i) {
    const std::int32_t len = static_cast<std::int32_t>(GetBE(v.data() + pos, 4));
    pos += 4;
    if (len < 0) {
      out.emplace_back();
      continue;
    }
    if (pos + static_cast<std::size_t>(len) > v.size()) break;
    out.emplace_back(v.substr(pos, static_cast<std::size_t>(len)));
    pos += static_cast<std::size_t>(len);
  }
  return out;
}

// ---------------------------------------------------------------- Conn

Result<std::unique_ptr<Conn>> Conn::Open(const std::string& conninfo) {
  pg_conn* c = PQconnectdb(conninfo.c_str());
  if (c == nullptr) return Status::Unavailable("postgres: out of memory connecting");
  if (PQstatus(c) != CONNECTION_OK) {
    std::string msg = Trimmed(PQerrorMessage(c));
    PQfinish(c);
    // libpq reports a malformed conninfo before trying any host.
    if (msg.find("invalid") != std::string::npos && msg.find("option") != std::string::npos) {
      return Status::InvalidArgument("postgres: " + msg);
    }
    return Status::Unavailable("postgres: connect: " + msg).WithRetryAfter(kRetryAfterMs);
  }
  // Notices ("relation ... already exists, skipping") are for people at a psql prompt; libpq would
  // print them on standard error.
  PQsetNoticeProcessor(c, [](void*, const char*) {}, nullptr);
  return std::unique_ptr<Conn>(new Conn(c));
}

Conn::~Conn() { PQfinish(conn_); }

bool Conn::broken() const { return PQstatus(conn_) != CONNECTION_OK; }

int Conn::backend_pid() const { return PQbackendPID(conn_); }

Status Conn::Error(pg_result* res, std::string_view what) {
  const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  const char* constraint = res != nullptr ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : nullptr;
  last_sqlstate_ = state != nullptr ? state : "";
  last_constraint_ = constraint != nullptr ? constraint : "";
  std::string msg = Trimmed(res != nullptr ? PQresultErrorMessage(res) : PQerrorMessage(conn_));
  if (msg.empty()) msg = Trimmed(PQerrorMessage(conn_));
  StatusCode code = broken() ? StatusCode::kUnavailable : CodeFor(last_sqlstate_);
  Status s(code, "postgres: " + std::string(what) + ": " + msg);
  return code == StatusCode::kUnavailable ? s.WithRetryAfter(kRetryAfterMs) : s;
}

Result<std::string> Conn::Prepared(std::string_view sql, const Params& params) {
  std::string key(sql);
  auto it = prepared_.find(key);
  if (it != prepared_.end()) return it->second;
  std::string name = "s" + std::to_string(prepared_.size() + 1);
  pg_result* res = PQprepare(conn_, name.c_str(), key.c_str(), params.size(), params.types());
  const ExecStatusType st = res != nullptr ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (st != PGRES_COMMAND_OK) {
    Status s = Error(res, "prepare");
    if (res != nullptr) PQclear(res);
    return s;
  }
  PQclear(res);
  prepared_.emplace(std::move(key), name);
  return name;
}

Result<Rows> Conn::Exec(std::string_view sql, const Params& params) {
  LIBCHAT_ASSIGN_OR_RETURN(std::string name, Prepared(sql, params));
  auto values = params.Values();
  pg_result* res =
      PQexecPrepared(conn_, name.c_str(), params.size(), values.data(), params.lengths(), params.formats(), 1);
  const ExecStatusType st = res != nullptr ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    Status s = Error(res, "exec");
    if (res != nullptr) PQclear(res);
    return s;
  }
  return Rows(res);
}

Status Conn::Script(std::string_view sql) {
  pg_result* res = PQexec(conn_, std::string(sql).c_str());
  const ExecStatusType st = res != nullptr ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    Status s = Error(res, "script");
    if (res != nullptr) PQclear(res);
    return s;
  }
  PQclear(res);
  return Status::Ok();
}

Result<std::vector<Rows>> Conn::Pipeline(const std::vector<Statement>& queries) {
  // Statements are prepared outside the pipeline, once per connection: a prepare that failed inside
  // it would be indistinguishable from the statement's own error.
  std::vector<std::string> names;
  names.reserve(queries.size());
  for (const auto& q : queries) {
    LIBCHAT_ASSIGN_OR_RETURN(std::string name, Prepared(q.sql, q.params));
    names.push_back(std::move(name));
  }
  if (PQenterPipelineMode(conn_) != 1) return Error(nullptr, "pipeline");
  for (std::size_t i = 0; i < queries.size(); ++i) {
    auto values = queries[i].params.Values();
    if (PQsendQueryPrepared(conn_, names[i].c_str(), queries[i].params.size(), values.data(),
                            queries[i].params.lengths(), queries[i].params.formats(), 1) != 1) {
      Status s = Error(nullptr, "pipeline send");
      PQexitPipelineMode(conn_);
      return s;
    }
  }
  if (PQpipelineSync(conn_) != 1) {
    Status s = Error(nullptr, "pipeline sync");
    PQexitPipelineMode(conn_);
    return s;
  }
  std::vector<Rows> out;
  out.reserve(queries.size());
  Status first_error;
  // One result per query (then a null separator), and the sync's own result at the end.
  for (std::size_t i = 0; i < queries.size(); ++i) {
    pg_result* res = PQgetResult(conn_);
    if (res == nullptr) {
      first_error = Error(nullptr, "pipeline read");
      break;
    }
    const ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
      out.emplace_back(res);
    } else {
      if (first_error.ok() && st != PGRES_PIPELINE_ABORTED) first_error = Error(res, "pipeline");
      PQclear(res);
    }
    // The null that ends this query's results.
    while (pg_result* extra = PQgetResult(conn_)) PQclear(extra);
  }
  for (;;) {
    pg_result* res = PQgetResult(conn_);
    if (res == nullptr) {
      if (broken()) break;
      continue;
    }
    const bool sync = PQresultStatus(res) == PGRES_PIPELINE_SYNC;
    PQclear(res);
    if (sync) break;
  }
  PQexitPipelineMode(conn_);
  if (!first_error.ok()) return first_error;
  if (out.size() != queries.size()) return Error(nullptr, "pipeline");
  return out;
}

}  // namespace chat::pg

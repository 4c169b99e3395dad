// Attachment bytes in PostgreSQL (--blob-store postgres://...), so that every chatd node of a
// deployment serves every attachment: one uploaded through node A downloads through node B. And the
// nodes' heartbeats (chatctl nodes). Both are schema version 3 (docs/storage.md, "PostgreSQL").
//
// A blob is chunks of 256 KiB in `blob_chunks`, keyed by an upload key of their own (the blob id and
// a random suffix), and one row in `blobs` that names the upload key: the row is inserted only once
// every chunk is in and the checksum matched, in a transaction that commits synchronously, so a blob
// is visible whole or not at all. Chunks are committed as they fill, without waiting for their WAL
// flush (synchronous_commit off): the blob row's synchronous commit flushes the WAL up to itself, the
// chunks' records included. Chunks no `blobs` row names (an upload that died with its node) are
// deleted when a blob store opens, once they are a day old (another node may still be writing them).
// Size limits, quotas, retention and erasure are the attachment layer's (attachments.h): it calls
// Remove, which deletes the row and the chunks in one statement; their space is reclaimed by
// autovacuum like any deleted row's.
#include <chrono>
#include <cstdio>

#include "crypto.h"
#include "libchat/plugins/postgres_store.h"
#include "blob_id.h"
#include "pg_pool.h"
#include "pg_schema.h"

namespace chat::pg {

const SchemaStep& ClusterSchemaStep() {
  static const SchemaStep step = {3, "several nodes as one service: attachment bytes (blobs) and node heartbeats",
                                  R"sql(
CREATE TABLE blobs (
  id text COLLATE "C" PRIMARY KEY,
  upload text COLLATE "C" NOT NULL,
  size bigint NOT NULL,
  sha256 text COLLATE "C" NOT NULL,
  created_at bigint NOT NULL);

CREATE TABLE blob_chunks (
  upload text COLLATE "C" NOT NULL,
  n bigint NOT NULL,
  bytes bytea NOT NULL,
  written_at bigint NOT NULL,
  PRIMARY KEY (upload, n));
-- Media is compressed already: stored out of line without compression, so that a range read
-- (substring) fetches only the pages it needs.
ALTER TABLE blob_chunks ALTER COLUMN bytes SET STORAGE EXTERNAL;

CREATE TABLE nodes (
  node_id text COLLATE "C" PRIMARY KEY,
  listen text NOT NULL,
  admin text NOT NULL,
  version text NOT NULL,
  started_at bigint NOT NULL,
  heartbeat_at bigint NOT NULL,
  connections bigint NOT NULL,
  stopped boolean NOT NULL);
)sql",
                                  "DROP TABLE nodes, blob_chunks, blobs;"};
  return step;
}

namespace {

constexpr std::int64_t kChunk = 256 * 1024;
// Chunks of no blob are deleted at open once this old.
constexpr std::int64_t kOrphanAgeMs = 24 * 3600 * 1000LL;

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The connection pool and the availability shared by a blob store and its writers and readers.
struct Db {
  explicit Db(const std::string& conninfo, std::size_t size)
      : pool(conninfo, size, [](std::string_view line) { std::fprintf(stderr, "blobs: %.*s\n", static_cast<int>(line.size()), line.data()); }) {}

  Result<Rows> Exec(std::string_view sql, const Params& params) {
    LIBCHAT_ASSIGN_OR_RETURN(Pool::Lease lease, pool.Acquire());
    Result<Rows> rows = lease->Exec(sql, params);
    pool.Observe(rows.status(), *lease);
    return rows;
  }

  // One statement in its own transaction whose commit does not wait for the WAL flush.
  Status ExecAsyncCommit(std::string_view sql, const Params& params) {
    LIBCHAT_ASSIGN_OR_RETURN(Pool::Lease lease, pool.Acquire());
    Status s = lease->Script("BEGIN; SET LOCAL synchronous_commit = off");
    if (s.ok()) s = lease->Exec(sql, params).status();
    if (s.ok()) {
      s = lease->Script("COMMIT");
      if (!s.ok()) lease.Discard();
    } else if (!lease->broken() && !lease->Script("ROLLBACK").ok()) {
      lease.Discard();
    }
    pool.Observe(s, *lease);
    return s;
  }

  Pool pool;
};

class PgBlobWriter final : public BlobWriter {
 public:
  PgBlobWriter(std::shared_ptr<Db> db, std::string id)
      : db_(std::move(db)), id_(std::move(id)), upload_(id_ + "." + detail::RandomHex(8)) {}
  ~PgBlobWriter() override { Abort(); }

  Status Write(std::string_view bytes) override {
    if (done_) return Status::FailedPrecondition("blob writer already finished");
    hash_.Update(bytes);
    size_ += bytes.size();
    while (!bytes.empty()) {
      const std::size_t take = std::min(bytes.size(), static_cast<std::size_t>(kChunk) - buffer_.size());
      buffer_.append(bytes.data(), take);
      bytes.remove_prefix(take);
      if (buffer_.size() == static_cast<std::size_t>(kChunk)) LIBCHAT_RETURN_IF_ERROR(Flush());
    }
    return Status::Ok();
  }

  Status Commit(std::string_view expected) override {
    if (done_) return Status::FailedPrecondition("blob writer already finished");
    const std::string actual = hash_.HexDigest();
    if (actual != expected) {
      Abort();
      return Status::InvalidArgument("checksum mismatch (declared " + std::string(expected) + ", received " + actual + ")");
    }
    if (!buffer_.empty()) {
      if (Status s = Flush(); !s.ok()) {
        Abort();
        return s;
      }
    }
    auto inserted = db_->Exec(
        "INSERT INTO blobs (id, upload, size, sha256, created_at) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (id) DO NOTHING",
        Params().Text(id_).Text(upload_).Uint(size_).Text(actual).Int(NowMs()));
    if (!inserted.ok()) {
      Abort();
      return inserted.error();
    }
    if (inserted->affected() == 0) {
      Abort();
      return Status::AlreadyExists("blob " + id_);
    }
    done_ = true;
    return Status::Ok();
  }

  void Abort() override {
    if (done_) return;
    done_ = true;
    buffer_.clear();
    // Chunks left behind (the database away) are an orphan upload: removed by a later open.
    if (chunks_ > 0) {
      db_->Exec("DELETE FROM blob_chunks WHERE upload = $1", Params().Text(upload_)).status().IgnoreError();
    }
  }

 private:
  Status Flush() {
    LIBCHAT_RETURN_IF_ERROR(db_->ExecAsyncCommit(
        "INSERT INTO blob_chunks (upload, n, bytes, written_at) VALUES ($1, $2, $3, $4)",
        Params().Text(upload_).Uint(chunks_).Bytes(buffer_).Int(NowMs())));
    ++chunks_;
    buffer_.clear();
    return Status::Ok();
  }

  std::shared_ptr<Db> db_;
  const std::string id_;
  const std::string upload_;
  detail::Sha256 hash_;
  std::string buffer_;
  std::uint64_t size_ = 0;
  std::uint64_t chunks_ = 0;
  bool done_ = false;
};

class PgBlobReader final : public BlobReader {
 public:
  PgBlobReader(std::shared_ptr<Db> db, std::string id, std::string upload, std::uint64_t size)
      : db_(std::move(db)), id_(std::move(id)), upload_(std::move(upload)), size_(size) {}
  std::uint64_t size() const override { return size_; }

  Result<std::string> ReadAt(std::uint64_t offset, std::size_t n) override {
    if (offset >= size_ || n == 0) return std::string();
    const std::uint64_t end = std::min<std::uint64_t>(size_, offset + n);
    const auto first = static_cast<std::int64_t>(offset / kChunk);
    const auto last = static_cast<std::int64_t>((end - 1) / kChunk);
    // Each chunk's part of [offset, end): substring is 1-based.
    LIBCHAT_ASSIGN_OR_RETURN(
        Rows rows,
        db_->Exec("SELECT n, substring(bytes FROM (GREATEST($2 - n * $4, 0) + 1)::int4 "
                  "FOR (LEAST($3 - n * $4, $4) - GREATEST($2 - n * $4, 0))::int4) "
                  "FROM blob_chunks WHERE upload = $1 AND n BETWEEN $5 AND $6 ORDER BY n",
                  Params().Text(upload_).Uint(offset).Uint(end).Int(kChunk).Int(first).Int(last)));
    std::string out;
    out.reserve(static_cast<std::size_t>(end - offset));
    for (int r = 0; r < rows.size(); ++r) {
      if (rows.Int(r, 0) != first + r) break;
      out += rows.Str(r, 1);
    }
    if (out.size() != end - offset) return Status::NotFound("blob " + id_ + " was removed while read");
    return out;
  }

 private:
  std::shared_ptr<Db> db_;
  const std::string id_;
  const std::string upload_;
  const std::uint64_t size_;
};

class PgBlobStore final : public BlobStore {
 public:
  explicit PgBlobStore(std::shared_ptr<Db> db) : db_(std::move(db)) {}

  Result<std::unique_ptr<BlobWriter>> NewWriter(const std::string& id) override {
    if (!detail::IsValidBlobId(id)) return Status::InvalidArgument("invalid blob id '" + id + "'");
    LIBCHAT_ASSIGN_OR_RETURN(Rows rows, db_->Exec("SELECT 1 FROM blobs WHERE id = $1", Params().Text(id)));
    if (!rows.empty()) return Status::AlreadyExists("blob " + id);
    return std::unique_ptr<BlobWriter>(std::make_unique<PgBlobWriter>(db_, id));
  }

  Result<std::unique_ptr<BlobReader>> Open(const std::string& id) override {
    if (!detail::IsValidBlobId(id)) return Status::InvalidArgument("invalid blob id '" + id + "'");
    LIBCHAT_ASSIGN_OR_RETURN(Rows rows, db_->Exec("SELECT upload, size FROM blobs WHERE id = $1", Params().Text(id)));
    if (rows.empty()) return Status::NotFound("blob " + id);
    return std::unique_ptr<BlobReader>(std::make_unique<PgBlobReader>(db_, id, rows.Str(0, 0), rows.Uint(0, 1)));
  }

  Status Remove(const std::string& id) override {
    if (!detail::IsValidBlobId(id)) return Status::InvalidArgument("invalid blob id '" + id + "'");
    LIBCHAT_ASSIGN_OR_RETURN(
        Rows rows, db_->Exec("WITH gone AS (DELETE FROM blobs WHERE id = $1 RETURNING upload), "
                             "chunks AS (DELETE FROM blob_chunks WHERE upload IN (SELECT upload FROM gone)) "
                             "SELECT count(*) FROM gone",
                             Params().Text(id)));
    if (rows.Int(0, 0) == 0) return Status::NotFound("blob " + id);
    return Status::Ok();
  }

 private:
  std::shared_ptr<Db> db_;
};

}  // namespace

Result<std::unique_ptr<BlobStore>> OpenPostgresBlobStore(const std::string& conninfo, std::size_t pool_size,
                                                          bool create, const std::string& description) {
  auto db = std::make_shared<Db>(conninfo, pool_size);
  {
    LIBCHAT_ASSIGN_OR_RETURN(Pool::Lease lease, db->pool.Acquire());
    LIBCHAT_RETURN_IF_ERROR(EnsureSchema(*lease, create, description));
    // Uploads that died with their node: chunks that no blob names, a day old.
    LIBCHAT_RETURN_IF_ERROR(lease
                                ->Exec("DELETE FROM blob_chunks c WHERE written_at < $1 AND NOT EXISTS "
                                       "(SELECT 1 FROM blobs b WHERE b.upload = c.upload)",
                                       Params().Int(NowMs() - kOrphanAgeMs))
                                .status());
  }
  return std::unique_ptr<BlobStore>(std::make_unique<PgBlobStore>(std::move(db)));
}

}  // namespace chat::pg

// BlobStore: where attachment bytes live. Bytes stream in through a writer that becomes visible only
// when committed with a matching checksum; a crash never leaves a half blob visible.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "libchat/result.h"

namespace chat {

class BlobWriter {
 public:
  virtual ~BlobWriter() = default;
  virtual Status Write(std::string_view bytes) = 0;
  // Verifies the SHA-256 (lower-case hex) of everything written, makes the blob durable and visible.
  // InvalidArgument on mismatch (the blob is discarded).
  virtual Status Commit(std::string_view expected_sha256_hex) = 0;
  // Discards what was written. Destroying an uncommitted writer aborts it.
  virtual void Abort() = 0;
};

class BlobReader {
 public:
  virtual ~BlobReader() = default;
  virtual std::uint64_t size() const = 0;
  // Reads up to n bytes from offset; empty at the end.
  virtual Result<std::string> ReadAt(std::uint64_t offset, std::size_t n) = 0;
};

class BlobStore {
 public:
  BlobStore() = default;
  BlobStore(const BlobStore&) = delete;
  BlobStore& operator=(const BlobStore&) = delete;
  virtual ~BlobStore() = default;
  // A writer for a new blob `id` ([A-Za-z0-9_-]{1,64}). AlreadyExists if the blob exists.
  virtual Result<std::unique_ptr<BlobWriter>> NewWriter(const std::string& id) = 0;
  // NotFound if absent or not committed.
  virtual Result<std::unique_ptr<BlobReader>> Open(const std::string& id) = 0;
  // NotFound if absent.
  virtual Status Remove(const std::string& id) = 0;
};

// In memory (mem://): for tests and embedding without disk.
std::unique_ptr<BlobStore> NewMemBlobStore();
// Files under `dir` (file://DIR): temp file, checksum, fsync, rename.
Result<std::unique_ptr<BlobStore>> NewFileBlobStore(const std::string& dir);

}  // namespace chat

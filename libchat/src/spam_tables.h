// The spam flags and reports of the KvStore (keys in keys.h, layout in docs/storage.md): their
// encoding, the Store calls over them, and their export and import. KvStore forwards to this.
//
// Thread-safe. Writes go through the store's commit queue, so they are durable on return.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "commit_queue.h"
#include "libchat/kv.h"
#include "libchat/spam.h"
#include "libchat/store_record.h"
#include "mutex.h"

namespace chat::detail {

std::string EncodeSpamFlag(const SpamFlag& f);
Result<SpamFlag> DecodeSpamFlag(std::string_view in);
std::string EncodeSpamReport(const SpamReport& r);
Result<SpamReport> DecodeSpamReport(std::string_view in);

class SpamTables {
 public:
  // Neither is owned; both must outlive this.
  SpamTables(KvEngine* engine, CommitQueue* commits) : engine_(engine), commits_(commits) {}

  Status PutFlag(const SpamFlag& flag);
  Result<SpamFlag> GetFlag(UserId user);
  Status DeleteFlag(UserId user);
  Result<std::vector<SpamFlag>> ListFlags(UserId after, std::size_t limit);
  Result<SpamReportAdded> AddReport(SpamReport report);
  Result<std::vector<SpamReport>> ListReports(UserId sender, std::uint64_t after, std::size_t limit);

  // Every flag, then every report, to `sink` (Store::Export's last records).
  Status Export(const RecordSink& sink);
  // One exported record with its indexes. `user_exists` tells whether a user was imported already.
  Status Import(const SpamFlag& flag, const std::function<Result<bool>(UserId)>& user_exists);
  Status Import(const SpamReport& report, const std::function<Result<bool>(UserId)>& user_exists);

 private:
  // Loads the report counter on first use.
  Status LoadCounter() REQUIRES(mu_);

  KvEngine* const engine_;
  CommitQueue* const commits_;
  // Orders AddReport's check and write, and the id counter.
  Mutex mu_;
  bool counter_loaded_ GUARDED_BY(mu_) = false;
  std::uint64_t next_report_ GUARDED_BY(mu_) = 1;
};

}  // namespace chat::detail

// KvStore: retention (what expiry and removed devices leave behind) and the physical erasure of
// erased content. Deleting a key in an LSM engine only hides the old value: it stays in older table
// files and in the write-ahead log until compaction rewrites them. The eraser compacts the key ranges
// of deleted and expired messages at most KvStoreOptions::erase_delay_ms after their erasing write,
// which for LevelDB flushes the memtable (the old log file is then deleted) and rewrites the table
// files holding the range. Each erasure leaves a marker in the erasing batch (keys::EraseMarker), so
// one that a crash interrupted runs after the next Open.
#include <algorithm>

#include "codec.h"
#include "keys.h"
#include "kv_store_impl.h"

namespace chat::detail {

namespace {

// A removed device's cursor written by an ack already in flight when it was removed is erased by the
// first sweep this long after the removal (no such write can still be queued by then).
constexpr TimeMs kRemovedDeviceGraceMs = 60 * 60 * 1000;
// More separate ranges than this in one eraser run are compacted as one span from the first to the
// last: each LevelDB CompactRange call flushes the memtable, so thousands of calls cost more than one.
constexpr std::size_t kMaxEraseSpans = 32;

}  // namespace

Status KvStore::WaitForQueuedWrites() {
  auto barrier = std::make_shared<Ticket>();
  barrier->sync = false;
  return commits_.Commit(barrier);
}

Result<RetentionReport> KvStore::SweepExpired(TimeMs now, TimeMs cursor_ttl_ms, std::size_t max_deletes) {
  // Acknowledged cursors still queued would escape the scan (and be written after it).
  LIBCHAT_RETURN_IF_ERROR(WaitForQueuedWrites());
  KvBatch b;
  LIBCHAT_ASSIGN_OR_RETURN(RetentionReport report, ScanExpired(now, cursor_ttl_ms, max_deletes, &b));
  if (b.empty()) return report;
  // The erased ranges, one per chat, marked in the same batch.
  std::map<ChatId, std::pair<Seq, Seq>> erased;
  for (const auto& op : b.ops()) {
    const std::string prefix = "m/";
    if (!op.is_delete || op.key.size() != prefix.size() + 16 || op.key.compare(0, prefix.size(), prefix) != 0) continue;
    const ChatId chat = keys::ReadBE(op.key, prefix.size());
    const Seq seq = keys::ReadBE(op.key, prefix.size() + 8);
    auto [it, inserted] = erased.try_emplace(chat, seq, seq + 1);
    if (!inserted) {
      it->second.first = std::min(it->second.first, seq);
      it->second.second = std::max(it->second.second, seq + 1);
    }
  }
  for (const auto& [chat, range] : erased) b.Put(keys::EraseMarker(chat, range.first, range.second), "");
  auto ticket = std::make_shared<Ticket>();
  ticket->batch = std::move(b);
  LIBCHAT_RETURN_IF_ERROR(commits_.Commit(ticket));
  for (const auto& [chat, range] : erased) ScheduleErase(chat, range.first, range.second);
  return report;
}

Result<RetentionReport> KvStore::CountExpired(TimeMs now, TimeMs cursor_ttl_ms, std::size_t max_deletes) {
  LIBCHAT_RETURN_IF_ERROR(WaitForQueuedWrites());
  return ScanExpired(now, cursor_ttl_ms, max_deletes, nullptr);
}

Result<RetentionReport> KvStore::ScanExpired(TimeMs now, TimeMs cursor_ttl_ms, std::size_t max_deletes,
                                             KvBatch* deletes) {
  RetentionReport report;
  std::set<std::string> dropped_refs;
  // Messages: the expiry index is ordered by time, so the sweep reads only what it deletes.
  {
    const std::string prefix = keys::ExpiryPrefix();
    auto it = engine_->NewIterator();
    for (it->Seek(prefix); it->Valid(); it->Next()) {
      std::string_view k = it->key();
      if (k.substr(0, prefix.size()) != prefix) break;
      TimeMs expiry = static_cast<TimeMs>(keys::ReadBE(k, prefix.size()));
      if (expiry > now) break;
      if (report.messages_deleted >= max_deletes) {
        report.more = true;
        break;
      }
      ChatId chat = keys::ReadBE(k, prefix.size() + 8);
      Seq seq = keys::ReadBE(k, prefix.size() + 16);
      // An index entry whose message is already gone is dropped but deletes nothing.
      auto m = GetMessage(chat, seq);
      if (m.ok()) {
        if (deletes != nullptr) {
          if (!m->client_id.empty() && m->sender_device != 0) {
            deletes->Delete(keys::Dedup(m->sender_device, m->client_id));
          }
          LIBCHAT_RETURN_IF_ERROR(DropAttachmentRefs(*m, now, deletes, &dropped_refs));
          deletes->Delete(keys::Message(chat, seq));
        }
        ++report.messages_deleted;
      } else if (!m.error().IsNotFound()) {
        return m.error();
      }
      if (deletes != nullptr) deletes->Delete(std::string(k));
    }
    LIBCHAT_RETURN_IF_ERROR(it->status());
  }
  // Cursors of devices that have not been seen for cursor_ttl_ms (what a device that never comes back
  // leaves behind), and of removed devices, written after their removal by a write in flight then.
  const auto sweep_cursors = [&](const std::string& prefix, TimeMs keep_after) -> Status {
    auto it = engine_->NewIterator();
    for (it->Seek(prefix); it->Valid(); it->Next()) {
      std::string_view k = it->key();
      if (k.substr(0, prefix.size()) != prefix) break;
      TimeMs at = static_cast<TimeMs>(keys::ReadBE(k, prefix.size()));
      if (at + keep_after > now) break;
      if (report.messages_deleted + report.cursors_deleted >= max_deletes) {
        report.more = true;
        break;
      }
      DeviceId device = keys::ReadBE(k, prefix.size() + 8);
      LIBCHAT_RETURN_IF_ERROR(ScanPrefix(*engine_, keys::DeviceCursorPrefix(device), [&](std::string_view ck, std::string_view) {
        if (deletes != nullptr) deletes->Delete(std::string(ck));
        ++report.cursors_deleted;
        return true;
      }));
      if (deletes != nullptr) deletes->Delete(std::string(k));
    }
    return it->status();
  };
  // Activity is indexed by day: a device seen on day D was seen before D + 1 day.
  LIBCHAT_RETURN_IF_ERROR(sweep_cursors(keys::DeviceSeenPrefix(), kMsPerDay + cursor_ttl_ms));
  LIBCHAT_RETURN_IF_ERROR(sweep_cursors(keys::DeviceGonePrefix(), kRemovedDeviceGraceMs));
  return report;
}

// ---------------------------------------------------------------- the eraser

void KvStore::ScheduleErase(ChatId chat, Seq from, Seq to) {
  eraser_.Schedule(EraseRange{chat, from, to}, options_.erase_delay_ms);
}

Status KvStore::ScheduleLeftoverErasures() {
  const std::string prefix = keys::EraseMarkerPrefix();
  std::vector<EraseRange> left;
  LIBCHAT_RETURN_IF_ERROR(ScanPrefix(*engine_, prefix, [&](std::string_view k, std::string_view) {
    if (k.size() == prefix.size() + 24) {
      left.push_back({keys::ReadBE(k, prefix.size()), keys::ReadBE(k, prefix.size() + 8),
                      keys::ReadBE(k, prefix.size() + 16)});
    }
    return true;
  }));
  for (const auto& r : left) eraser_.Schedule(r, 0);
  return Status::Ok();
}

Status KvStore::Erase(const std::vector<EraseRange>& ranges) {
  // Spans of message keys, merged where they overlap or touch.
  std::vector<EraseRange> due = ranges;
  std::sort(due.begin(), due.end(), [](const EraseRange& a, const EraseRange& b) {
    return std::tie(a.chat, a.from) < std::tie(b.chat, b.from);
  });
  std::vector<std::pair<std::string, std::string>> spans;
  for (const auto& r : due) {
    std::string begin = keys::Message(r.chat, r.from);
    std::string end = keys::Message(r.chat, r.to);
    if (!spans.empty() && begin <= spans.back().second) {
      spans.back().second = std::max(spans.back().second, end);
    } else {
      spans.emplace_back(std::move(begin), std::move(end));
    }
  }
  if (spans.size() > kMaxEraseSpans) {
    spans.front().second = spans.back().second;
    spans.resize(1);
  }
  for (const auto& [begin, end] : spans) LIBCHAT_RETURN_IF_ERROR(engine_->CompactRange(begin, end));
  // The markers go once their content is gone; a crash before this only repeats the compaction.
  auto ticket = std::make_shared<Ticket>();
  ticket->sync = false;
  for (const auto& r : due) ticket->batch.Delete(keys::EraseMarker(r.chat, r.from, r.to));
  commits_.Enqueue(std::move(ticket));
  return Status::Ok();
}

Result<bool> KvStore::TEST_HasKey(std::string_view key) {
  LIBCHAT_RETURN_IF_ERROR(WaitForQueuedWrites());
  auto v = engine_->Get(key);
  if (v.ok()) return true;
  if (v.error().IsNotFound()) return false;
  return v.error();
}

Status KvStore::TEST_EraseNow() { return eraser_.WaitAll(); }

}  // namespace chat::detail

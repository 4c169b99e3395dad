// PgStore: retention and erasure.
//
// Messages live in day partitions by acceptance time. A partition whose newest expiry has passed is
// dropped whole: one catalog operation, whatever its size, and no dead rows left for VACUUM. Entries
// of chats with a retention shorter than their partition's are deleted row by row by the expiry
// index as they expire; those due within a day of their partition's drop wait for it (they are never
// served meanwhile: readers skip expired entries). So an entry's bytes leave the table at most one
// day after its expiry. Dedup rows and attachment references carry their message's expiry and are
// deleted by it.
//
// A deletion overwrites the message with a tombstone (UPDATE); the old row version stays in the
// partition's file until VACUUM removes it. The eraser vacuums each partition that received
// deletions at most PostgresStoreOptions::erase_delay_ms after the first of them.
#include <set>

#include "pg_rows.h"
#include "pg_schema.h"
#include "pg_store.h"

namespace chat::pg {

Result<RetentionReport> PgStore::SweepExpired(TimeMs now, TimeMs cursor_ttl_ms, std::size_t max_deletes) {
  // The sweep runs regularly (chatd's retention scheduler): it also makes the next days' partitions,
  // so that the first sends of a day never wait for DDL.
  LIBCHAT_RETURN_IF_ERROR(EnsurePartitionFor(now + kMsPerDay));
  LIBCHAT_RETURN_IF_ERROR(EnsurePartitionFor(now + 2 * kMsPerDay));
  return Sweep(now, cursor_ttl_ms, max_deletes, true);
}

Result<RetentionReport> PgStore::CountExpired(TimeMs now, TimeMs cursor_ttl_ms, std::size_t max_deletes) {
  return Sweep(now, cursor_ttl_ms, max_deletes, false);
}

Result<RetentionReport> PgStore::Sweep(TimeMs now, TimeMs cursor_ttl_ms, std::size_t max_deletes, bool apply) {
  RetentionReport report;
  LIBCHAT_ASSIGN_OR_RETURN(Pool::Lease lease, pool_.Acquire());
  Conn& c = *lease;
  auto seen = [&](Status s) { return Seen(s, c); };
  auto left = [&] { return max_deletes - std::min(max_deletes, report.messages_deleted + report.cursors_deleted); };
  // Attachments whose last reference went are unreferenced from now on (CollectAttachments).
  auto orphan = [&](const Rows& gone) -> Status {
    std::vector<std::string> ids;
    for (int i = 0; i < gone.size(); ++i) ids.push_back(gone.Str(i, 0));
    if (ids.empty()) return Status::Ok();
    return c.Exec("UPDATE attachments a SET unreferenced_since = $2 WHERE id = ANY($1) AND unreferenced_since IS NULL "
                  "AND NOT EXISTS (SELECT 1 FROM attachment_refs r WHERE r.attachment_id = a.id)",
                  Params().TextArray(ids).Int(std::max<TimeMs>(now, 0)))
        .status();
  };
  auto parts = ListPartitions(c);
  if (!parts.ok()) return seen(parts.error());
  for (const Partition& p : *parts) {
    // The newest expiry of the day: the last entry of the partition's expiry index.
    auto newest = c.Exec("SELECT max(expires_at) FROM " + p.name);
    if (!newest.ok()) return seen(newest.error());
    if (newest->IsNull(0, 0)) {
      // Empty and past (a day whose entries were all deleted, or one made ahead and never used).
      if (apply && p.day + 2 * kMsPerDay <= now) LIBCHAT_RETURN_IF_ERROR(seen(DropPartition(p.name, p.day)));
      continue;
    }
    const TimeMs newest_expiry = newest->Int(0, 0);
    TimeMs cutoff;
    if (newest_expiry <= now) {
      // Every entry of the day has expired: drop it whole when its rows fit the budget, or when they
      // are so many that deleting them one by one would cost what the partitions are there to save.
      auto rows = c.Exec("SELECT count(*) FROM " + p.name);
      if (!rows.ok()) return seen(rows.error());
      const std::size_t n = static_cast<std::size_t>(rows->Uint(0, 0));
      if (n <= left() || n >= options_.drop_partition_rows) {
        if (apply) LIBCHAT_RETURN_IF_ERROR(seen(DropPartition(p.name, p.day)));
        report.messages_deleted += n;
        continue;
      }
      cutoff = now;
    } else {
      // Entries that expire well before their day goes (a chat with a shorter retention). Those due
      // within a day of the drop wait for it.
      cutoff = std::min(now, newest_expiry - kMsPerDay);
    }
    const std::size_t budget = left();
    const Params at = Params().Int(cutoff);
    if (budget == 0) {
      auto any = c.Exec("SELECT 1 FROM " + p.name + " WHERE expires_at <= $1 LIMIT 1", at);
      if (!any.ok()) return seen(any.error());
      if (!any->empty()) report.more = true;
      if (report.more) break;
      continue;
    }
    std::size_t n = 0;
    if (!apply) {
      auto found = c.Exec("SELECT count(*) FROM (SELECT 1 FROM " + p.name + " WHERE expires_at <= $1 LIMIT $2) t",
                          Params().Int(cutoff).Int(static_cast<std::int64_t>(budget) + 1));
      if (!found.ok()) return seen(found.error());
      n = static_cast<std::size_t>(found->Uint(0, 0));
      if (n > budget) {
        n = budget;
        report.more = true;
      }
      report.messages_deleted += n;
      if (report.more) break;
      continue;
    }
    auto deleted = c.Exec("DELETE FROM " + p.name + " WHERE ctid = ANY(ARRAY(SELECT ctid FROM " + p.name +
                              " WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2)) "
                              "RETURNING chat_id, seq, sender_device, client_id, attachments",
                          Params().Int(cutoff).Int(static_cast<std::int64_t>(budget)));
    if (!deleted.ok()) return seen(deleted.error());
    n = static_cast<std::size_t>(deleted->size());
    report.messages_deleted += n;
    // Their dedup rows and attachment references go with them.
    std::vector<std::int64_t> devices, chats, seqs;
    std::vector<std::string> clients;
    for (int i = 0; i < deleted->size(); ++i) {
      if (deleted->Uint(i, 2) != 0 && !deleted->Str(i, 3).empty()) {
        devices.push_back(deleted->Int(i, 2));
        clients.push_back(deleted->Str(i, 3));
      }
      if (!deleted->StrArray(i, 4).empty()) {
        chats.push_back(deleted->Int(i, 0));
        seqs.push_back(deleted->Int(i, 1));
      }
    }
    if (!devices.empty()) {
      LIBCHAT_RETURN_IF_ERROR(seen(
          c.Exec("DELETE FROM dedup d USING unnest($1, $2) AS t(dv, cl) WHERE d.device_id = t.dv AND d.client_id = t.cl",
                 Params().IntArray(devices).BytesArray(clients))
              .status()));
    }
    if (!chats.empty()) {
      auto gone = c.Exec("DELETE FROM attachment_refs r USING unnest($1, $2) AS t(ch, sq) "
                         "WHERE r.chat_id = t.ch AND r.seq = t.sq RETURNING r.attachment_id",
                         Params().IntArray(chats).IntArray(seqs));
      if (!gone.ok()) return seen(gone.error());
      LIBCHAT_RETURN_IF_ERROR(seen(orphan(*gone)));
    }
    if (n == budget) {
      auto any = c.Exec("SELECT 1 FROM " + p.name + " WHERE expires_at <= $1 LIMIT 1", at);
      if (!any.ok()) return seen(any.error());
      if (!any->empty()) {
        report.more = true;
        break;
      }
    }
  }
  if (apply) {
    // What the dropped partitions' entries left: their dedup rows and references carry their expiry.
    LIBCHAT_RETURN_IF_ERROR(seen(c.Exec("DELETE FROM dedup WHERE expires_at <= $1", Params().Int(now)).status()));
    auto gone = c.Exec("DELETE FROM attachment_refs WHERE expires_at <= $1 RETURNING attachment_id", Params().Int(now));
    if (!gone.ok()) return seen(gone.error());
    LIBCHAT_RETURN_IF_ERROR(seen(orphan(*gone)));
  }
  // Cursors of devices not seen for cursor_ttl_ms (activity counts by day, as on the other stores),
  // and of devices that no longer exist.
  if (!report.more) {
    const std::size_t budget = left();
    const std::string pick =
        "SELECT dc.ctid FROM device_cursors dc LEFT JOIN devices d ON d.id = dc.device_id WHERE d.id IS NULL OR "
        "(d.last_seen <> 0 AND d.last_seen - (d.last_seen % 86400000) + 86400000 + $1 <= $2)";
    auto found = c.Exec("SELECT count(*) FROM (" + pick + " LIMIT $3) t",
                        Params().Int(cursor_ttl_ms).Int(now).Int(static_cast<std::int64_t>(budget) + 1));
    if (!found.ok()) return seen(found.error());
    std::size_t n = static_cast<std::size_t>(found->Uint(0, 0));
    if (n > budget) {
      n = budget;
      report.more = true;
    }
    if (apply && n > 0) {
      auto del = c.Exec("DELETE FROM device_cursors WHERE ctid = ANY(ARRAY(" + pick + " LIMIT $3))",
                        Params().Int(cursor_ttl_ms).Int(now).Int(static_cast<std::int64_t>(n)));
      if (!del.ok()) return seen(del.error());
      n = static_cast<std::size_t>(del->affected());
    }
    report.cursors_deleted += n;
  }
  return report;
}

Status PgStore::DropPartition(const std::string& name, TimeMs day) {
  MutexLock lock(&partitions_mu_);
  partitions_.erase(day);
  if (ddl_ && ddl_->broken()) ddl_.reset();
  if (!ddl_) {
    LIBCHAT_ASSIGN_OR_RETURN(ddl_, Conn::Open(conninfo_));
    LIBCHAT_RETURN_IF_ERROR(ddl_->Script("SET lock_timeout = '2s'"));
  }
  // Under the same advisory lock as creation, so that no process re-creates the day half-way.
  LIBCHAT_RETURN_IF_ERROR(ddl_->Script("BEGIN"));
  Status s = ddl_->Script("SELECT pg_advisory_xact_lock(hashtext('libchat.partitions')); DROP TABLE IF EXISTS " + name);
  s = s.ok() ? ddl_->Script("COMMIT") : s;
  if (!s.ok() && !ddl_->broken()) ddl_->Script("ROLLBACK").IgnoreError();
  return s;
}

// ---------------------------------------------------------------- the eraser

void PgStore::ScheduleErase(TimeMs accepted_at) { eraser_.Schedule(DayStart(accepted_at), options_.erase_delay_ms); }

Status PgStore::Erase(const std::vector<TimeMs>& due) {
  // VACUUM removes the row versions the tombstones replaced (their TOAST included); it cannot run
  // in a transaction, so each runs on its own. A partition dropped meanwhile has nothing to erase.
  const std::set<TimeMs> days(due.begin(), due.end());
  LIBCHAT_ASSIGN_OR_RETURN(Pool::Lease lease, pool_.Acquire());
  Status s;
  std::vector<TimeMs> clean, again;
  for (TimeMs day : days) {
    const std::string name = PartitionName(day);
    auto exists = lease->Exec("SELECT to_regclass($1) IS NOT NULL", Params().Text(name));
    if (!exists.ok()) {
      s = exists.error();
      break;
    }
    if (!exists->Bool(0, 0)) continue;
    s = lease->Script("VACUUM " + name);
    if (!s.ok()) break;
    // VACUUM keeps the versions a transaction that began before the deletion might still see (one
    // of this database's, anywhere in the store's own pool too): it reports how many it had to keep
    // as the partition's dead rows. Those days are vacuumed again, later.
    auto kept = lease->Exec("SELECT coalesce(n_dead_tup, 0) FROM pg_stat_all_tables WHERE relid = to_regclass($1)",
                            Params().Text(name));
    if (!kept.ok()) {
      s = kept.error();
      break;
    }
    (kept->size() > 0 && kept->Int(0, 0) > 0 ? again : clean).push_back(day);
  }
  RecheckErase(clean, again);
  return Seen(s, *lease);
}

void PgStore::RecheckErase(const std::vector<TimeMs>& clean, const std::vector<TimeMs>& again) {
  MutexLock lock(&erase_mu_);
  // A day VACUUM left clean starts from one second again at its next deletion.
  for (TimeMs day : clean) erase_rechecks_.erase(day);
  for (TimeMs day : again) {
    int& attempts = erase_rechecks_[day];
    // 1, 2, 4 ... 64 s: a snapshot held that long is rare, and each recheck vacuums a whole day.
    if (attempts >= kMaxEraseRechecks) {
      erase_rechecks_.erase(day);  // Autovacuum removes them in the end.
      continue;
    }
    eraser_.Schedule(day, std::int64_t{1000} << attempts);
    ++attempts;
  }
}

Status PgStore::TEST_EraseNow() { return eraser_.WaitAll(); }

}  // namespace chat::pg

#include "pg_schema.h"

#include <algorithm>
#include <cstdio>

namespace chat::pg {
namespace {

// Version 1: the first schema. Foreign keys only where the store itself guarantees the reference
// (a device's user, a participant's chat): the Store API lets a caller name users the store never
// saw (spam reports, blocks), and the other stores accept that too. Integers are bigint (ids, seqs,
// times in ms since the epoch); what
// users write is bytea (the Store API carries bytes, not necessarily valid UTF-8); identifiers made
// by the server (usernames, hex ids and hashes) are text in the "C" collation, so that they sort
// bytewise as the other stores do.
constexpr const char* kV1Up = R"sql(
CREATE SEQUENCE user_ids;
CREATE SEQUENCE device_ids;
CREATE SEQUENCE chat_ids;
CREATE SEQUENCE spam_report_ids;

CREATE TABLE users (
  id bigint PRIMARY KEY,
  username text COLLATE "C" NOT NULL UNIQUE,
  display_name bytea NOT NULL,
  email bytea NOT NULL,
  password_hash bytea NOT NULL,
  avatar_url bytea NOT NULL,
  created_at bigint NOT NULL,
  disabled boolean NOT NULL,
  last_seen_visibility smallint NOT NULL);

CREATE TABLE devices (
  id bigint PRIMARY KEY,
  user_id bigint NOT NULL REFERENCES users,
  kind bytea NOT NULL,
  name bytea NOT NULL,
  push_provider bytea NOT NULL,
  push_token bytea NOT NULL,
  token_hash text COLLATE "C" UNIQUE,
  token_expires_at bigint NOT NULL,
  created_at bigint NOT NULL,
  last_seen bigint NOT NULL);
CREATE INDEX devices_by_user ON devices (user_id, id);
CREATE INDEX devices_by_last_seen ON devices (last_seen) WHERE last_seen <> 0;

CREATE TABLE chats (
  id bigint PRIMARY KEY,
  kind smallint NOT NULL,
  name bytea NOT NULL,
  metadata bytea NOT NULL,
  member_limit bigint NOT NULL,
  retention_ms bigint NOT NULL,
  created_by bigint NOT NULL,
  created_at bigint NOT NULL,
  head bigint NOT NULL DEFAULT 0,
  last_ts bigint NOT NULL DEFAULT 0,
  version bigint NOT NULL DEFAULT 0);

CREATE TABLE participants (
  chat_id bigint NOT NULL REFERENCES chats,
  user_id bigint NOT NULL,
  role smallint NOT NULL,
  joined_at bigint NOT NULL,
  joined_seq bigint NOT NULL,
  PRIMARY KEY (chat_id, user_id));
CREATE INDEX participants_by_user ON participants (user_id, chat_id);

CREATE TABLE direct_chats (
  user_lo bigint NOT NULL,
  user_hi bigint NOT NULL,
  chat_id bigint NOT NULL UNIQUE REFERENCES chats,
  PRIMARY KEY (user_lo, user_hi));

CREATE TABLE messages (
  chat_id bigint NOT NULL,
  seq bigint NOT NULL,
  accepted_at bigint NOT NULL,
  id text COLLATE "C" NOT NULL,
  sender bigint NOT NULL,
  sender_device bigint NOT NULL,
  client_id bytea NOT NULL,
  kind smallint NOT NULL,
  body bytea NOT NULL,
  attachments text[] NOT NULL,
  reply_to bigint NOT NULL,
  ref_seq bigint NOT NULL,
  ts bigint NOT NULL,
  deleted boolean NOT NULL,
  expires_at bigint NOT NULL,
  PRIMARY KEY (chat_id, seq, accepted_at)
) PARTITION BY RANGE (accepted_at);
CREATE INDEX messages_by_expiry ON messages (expires_at);

CREATE TABLE dedup (
  device_id bigint NOT NULL,
  client_id bytea NOT NULL,
  chat_id bigint NOT NULL,
  seq bigint NOT NULL,
  accepted_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  PRIMARY KEY (device_id, client_id));
CREATE INDEX dedup_by_expiry ON dedup (expires_at);

CREATE TABLE device_cursors (
  device_id bigint NOT NULL,
  chat_id bigint NOT NULL,
  user_id bigint NOT NULL,
  seq bigint NOT NULL,
  PRIMARY KEY (device_id, chat_id));
CREATE INDEX device_cursors_by_member ON device_cursors (chat_id, user_id);

CREATE TABLE receipts (
  chat_id bigint NOT NULL,
  user_id bigint NOT NULL,
  delivered bigint NOT NULL,
  read bigint NOT NULL,
  PRIMARY KEY (chat_id, user_id));

CREATE TABLE attachments (
  id text COLLATE "C" PRIMARY KEY,
  uploader bigint NOT NULL,
  kind smallint NOT NULL,
  mime bytea NOT NULL,
  size bigint NOT NULL,
  sha256 text NOT NULL,
  state smallint NOT NULL,
  created_at bigint NOT NULL,
  completed_at bigint NOT NULL,
  unreferenced_since bigint);
CREATE INDEX attachments_unreferenced ON attachments (unreferenced_since) WHERE unreferenced_since IS NOT NULL;

CREATE TABLE attachment_refs (
  attachment_id text COLLATE "C" NOT NULL,
  chat_id bigint NOT NULL,
  seq bigint NOT NULL,
  expires_at bigint NOT NULL,
  PRIMARY KEY (attachment_id, chat_id, seq));
CREATE INDEX attachment_refs_by_expiry ON attachment_refs (expires_at);

CREATE TABLE attachment_garbage (id text COLLATE "C" PRIMARY KEY);

CREATE TABLE upload_quota (
  day bigint NOT NULL,
  user_id bigint NOT NULL,
  bytes bigint NOT NULL,
  PRIMARY KEY (day, user_id));

CREATE TABLE blocks (
  user_id bigint NOT NULL,
  blocked bigint NOT NULL,
  since bigint NOT NULL,
  PRIMARY KEY (user_id, blocked));

CREATE TABLE bans (
  user_id bigint PRIMARY KEY,
  at bigint NOT NULL,
  reason bytea NOT NULL);

CREATE TABLE spam_flags (
  user_id bigint PRIMARY KEY,
  score double precision NOT NULL,
  flagged_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  suspended boolean NOT NULL,
  reasons bytea[] NOT NULL);

CREATE TABLE spam_reports (
  id bigint PRIMARY KEY,
  reporter bigint NOT NULL,
  sender bigint NOT NULL,
  chat_id bigint NOT NULL,
  seq bigint NOT NULL,
  reason bytea NOT NULL,
  reported_at bigint NOT NULL,
  UNIQUE (reporter, chat_id, seq));
CREATE INDEX spam_reports_by_sender ON spam_reports (sender, id);
CREATE INDEX spam_reports_by_pair ON spam_reports (sender, reporter);
)sql";

constexpr const char* kV1Down = R"sql(
DROP TABLE spam_reports, spam_flags, bans, blocks, upload_quota, attachment_garbage, attachment_refs,
  attachments, receipts, device_cursors, dedup, messages, direct_chats, participants, chats, devices, users;
DROP SEQUENCE spam_report_ids, chat_ids, device_ids, user_ids;
)sql";

constexpr const char* kVersionTable =
    "CREATE TABLE IF NOT EXISTS libchat_schema (version integer PRIMARY KEY, description text NOT NULL, "
    "applied_at timestamptz NOT NULL DEFAULT now())";

// Serialises schema changes (and store opens that may create the schema) across processes.
constexpr const char* kSchemaLock = "SELECT pg_advisory_xact_lock(hashtext('libchat.schema'))";

std::string CivilDate(TimeMs day_start) {
  // Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's civil_from_days).
  std::int64_t z = day_start / kMsPerDay + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  const std::int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const std::int64_t m = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld%02lld%02lld", static_cast<long long>(y < 0 ? 0 : y),
                static_cast<long long>(m), static_cast<long long>(d));
  return buf;
}

Status InTransaction(Conn& conn, const std::function<Status()>& body) {
  LIBCHAT_RETURN_IF_ERROR(conn.Script("BEGIN"));
  Status s = body();
  if (s.ok()) s = conn.Script("COMMIT");
  if (!s.ok()) conn.Script("ROLLBACK").IgnoreError();
  return s;
}

}  // namespace

const std::vector<SchemaStep>& SchemaSteps() {
  static const std::vector<SchemaStep> steps = {
      {1, "the first schema: accounts, chats, day-partitioned messages, cursors, attachments, moderation",
       kV1Up, kV1Down},
      InvitesSchemaStep(),
      ClusterSchemaStep(),
  };
  return steps;
}

int LatestVersion() { return static_cast<int>(SchemaSteps().size()); }

// A fresh database gets every step in one transaction under the schema lock: nodes starting together
// on it must never see a version in between (Migrate commits one step at a time, and a node that read
// version 2 of 3 refused to start: "older than this build's"). The second of two concurrent creators
// waits for the lock and finds the schema made.
static Status CreateSchema(Conn& conn) {
  return InTransaction(conn, [&]() -> Status {
    LIBCHAT_RETURN_IF_ERROR(conn.Script(kSchemaLock));
    LIBCHAT_RETURN_IF_ERROR(conn.Script(kVersionTable));
    LIBCHAT_ASSIGN_OR_RETURN(int now, CurrentVersion(conn));
    if (now != 0) return Status::Ok();
    for (const SchemaStep& step : SchemaSteps()) {
      LIBCHAT_RETURN_IF_ERROR(conn.Script(step.up));
      LIBCHAT_RETURN_IF_ERROR(conn.Exec("INSERT INTO libchat_schema (version, description) VALUES ($1::int8::int4, $2)",
                                        Params().Int(step.to).Text(step.description))
                                  .status());
    }
    return Status::Ok();
  });
}

Status EnsureSchema(Conn& conn, bool create, const std::string& description) {
  LIBCHAT_ASSIGN_OR_RETURN(int version, CurrentVersion(conn));
  if (version == 0) {
    if (!create) {
      return Status::FailedPrecondition(description + ": the database holds no libchat schema; run `chat-migrate up`");
    }
    LIBCHAT_RETURN_IF_ERROR(CreateSchema(conn));
    LIBCHAT_ASSIGN_OR_RETURN(version, CurrentVersion(conn));
  }
  if (version > LatestVersion()) {
    return Status::FailedPrecondition(description + ": store schema version " + std::to_string(version) +
                                      " is newer than this build's (" + std::to_string(LatestVersion()) +
                                      "); upgrade libchat");
  }
  if (version < LatestVersion()) {
    return Status::FailedPrecondition(description + ": store schema version " + std::to_string(version) +
                                      " is older than this build's (" + std::to_string(LatestVersion()) +
                                      "); run `chat-migrate up`");
  }
  return Status::Ok();
}

Result<int> CurrentVersion(Conn& conn) {
  LIBCHAT_ASSIGN_OR_RETURN(Rows t, conn.Exec("SELECT to_regclass('libchat_schema') IS NOT NULL"));
  if (!t.Bool(0, 0)) return 0;
  LIBCHAT_ASSIGN_OR_RETURN(Rows v, conn.Exec("SELECT COALESCE(max(version), 0)::int8 FROM libchat_schema"));
  return static_cast<int>(v.Int(0, 0));
}

Result<MigrateReport> Migrate(Conn& conn, int target, const std::function<void(const MigrationStep&)>& on_step) {
  if (target < 0 || target > LatestVersion()) {
    return Status::FailedPrecondition("schema version " + std::to_string(target) + " is unknown to this build (it knows 0 to " +
                                      std::to_string(LatestVersion()) + ")");
  }
  MigrateReport report;
  LIBCHAT_ASSIGN_OR_RETURN(report.from, CurrentVersion(conn));
  if (report.from > LatestVersion()) {
    return Status::FailedPrecondition("the database's schema version " + std::to_string(report.from) +
                                      " is newer than this build's (" + std::to_string(LatestVersion()) +
                                      "); upgrade libchat");
  }
  report.to = report.from;
  // One step per transaction; each re-reads the version under the lock, so a step another process
  // applied meanwhile is not applied twice.
  while (report.to != target) {
    const bool up = target > report.to;
    Status s = InTransaction(conn, [&]() -> Status {
      LIBCHAT_RETURN_IF_ERROR(conn.Script(kSchemaLock));
      LIBCHAT_RETURN_IF_ERROR(conn.Script(kVersionTable));
      LIBCHAT_ASSIGN_OR_RETURN(int now, CurrentVersion(conn));
      if (now != report.to) {
        report.to = now;
        return Status::Ok();
      }
      const SchemaStep& step = SchemaSteps()[static_cast<std::size_t>(up ? now : now - 1)];
      const MigrationStep shown{up ? step.to - 1 : step.to, up ? step.to : step.to - 1, step.description};
      if (on_step) on_step(shown);
      LIBCHAT_RETURN_IF_ERROR(conn.Script(up ? step.up : step.down));
      if (up) {
        LIBCHAT_RETURN_IF_ERROR(
            conn.Exec("INSERT INTO libchat_schema (version, description) VALUES ($1::int8::int4, $2)",
                      Params().Int(step.to).Text(step.description))
                .status());
      } else {
        LIBCHAT_RETURN_IF_ERROR(
            conn.Exec("DELETE FROM libchat_schema WHERE version = $1::int8::int4", Params().Int(step.to)).status());
      }
      report.applied.push_back(shown);
      report.to = shown.to;
      return Status::Ok();
    });
    LIBCHAT_RETURN_IF_ERROR(s);
  }
  return report;
}

TimeMs DayStart(TimeMs t) {
  TimeMs r = t % kMsPerDay;
  if (r < 0) r += kMsPerDay;
  return t - r;
}

std::string PartitionName(TimeMs day_start) { return "messages_" + CivilDate(day_start); }

Status EnsurePartition(Conn& conn, TimeMs t) {
  const TimeMs day = DayStart(t);
  const std::string name = PartitionName(day);
  // The common case costs one catalog lookup and no lock.
  LIBCHAT_ASSIGN_OR_RETURN(Rows found, conn.Exec("SELECT to_regclass($1) IS NOT NULL", Params().Text(name)));
  if (found.Bool(0, 0)) return Status::Ok();
  return InTransaction(conn, [&]() -> Status {
    LIBCHAT_RETURN_IF_ERROR(conn.Script("SELECT pg_advisory_xact_lock(hashtext('libchat.partitions'))"));
    return conn.Script("CREATE TABLE IF NOT EXISTS " + name + " PARTITION OF messages FOR VALUES FROM (" +
                       std::to_string(day) + ") TO (" + std::to_string(day + kMsPerDay) + ")");
  });
}

Result<std::vector<Partition>> ListPartitions(Conn& conn) {
  LIBCHAT_ASSIGN_OR_RETURN(
      Rows rows, conn.Exec("SELECT c.relname::text, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
                           "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'messages'::regclass"));
  std::vector<Partition> out;
  for (int i = 0; i < rows.size(); ++i) {
    // "FOR VALUES FROM ('1700006400000') TO (...)" or without quotes, depending on the version.
    const std::string bound = rows.Str(i, 1);
    const std::size_t from = bound.find("FROM (");
    if (from == std::string::npos) continue;
    std::size_t pos = from + 6;
    while (pos < bound.size() && bound[pos] == '\'') ++pos;
    out.push_back({rows.Str(i, 0), std::strtoll(bound.c_str() + pos, nullptr, 10)});
  }
  std::sort(out.begin(), out.end(), [](const Partition& a, const Partition& b) { return a.day < b.day; });
  return out;
}

}  // namespace chat::pg

// The history checker: many threads run random operations against a ChatService (register, login,
// resume, change password, ban and disable, create groups, add/remove members with limits and roles,
// send with retries and duplicate client ids, delete, ack, leave, remove devices), with store restarts
// in between (a clean reopen, or a crash that drops unsynced writes after injected write failures).
// Everything each operation saw is recorded, with the live events the bus carried; the recorded
// history is then checked against the guarantees of docs/architecture.md ("Invariants"):
//  - ids are never reused (users, devices, chats), across restarts too;
//  - per chat, seqs are unique and gapless, and every acknowledged message is there exactly once
//    (deleted ones as tombstones with their content gone);
//  - every live event reaches exactly the members at its place in the log: nobody receives an entry
//    after the entry that removed them or before the one that added them; nobody appends after their
//    removal;
//  - member limits and a single owner hold after every membership entry, and nobody joins twice;
//  - a revoked device (removed, logged out, its user's password changed elsewhere, its user banned
//    or disabled) never acts again: every operation it starts afterwards fails, its old token never
//    resumes, and a login whose password check raced a password change leaves no device behind;
//  - no device keeps a cursor of a chat its user is not in;
//  - a backup taken while the others write holds every message and cursor acknowledged before it
//    began (mem and LevelDB: the engine's copy, in memory);
//  - LevelDB: once the eraser has run, no file of the store holds the text of a message whose
//    deletion was acknowledged (each text carries a token unique to it, found as bytes in the files).
// Seeded: a run's choices are reproducible from its seed (its interleavings are the machine's).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace chat::check {

struct HistoryOptions {
  std::string backend = "mem";  // "mem", "leveldb" (in a temporary directory) or "postgres".
  // For "postgres": the store's URI (a database of its own); a restart closes and reopens the store.
  // Write failures and crashes are the KvEngine's (faults): with postgres, restarts are clean, and
  // the crash and failover tests of tests/postgres cover the database's own crashes.
  std::string store_uri;
  std::uint64_t seed = 1;
  int threads = 8;
  int ops_per_thread = 250;  // Per phase.
  int phases = 3;            // With a restart between phases (and after the last, before checking).
  // > 0: keep running phases until this many seconds have passed (the long-running program).
  double seconds = 0;
  // Inject write failures in some phases, ending them with a crash that drops unsynced writes.
  bool faults = true;
  std::uint32_t member_limit = 4;
};

struct HistoryReport {
  std::uint64_t operations = 0;
  std::uint64_t operations_ok = 0;
  std::uint64_t messages_acked = 0;
  std::uint64_t events = 0;
  int phases = 0;
  int crashes = 0;
  int backups = 0;
  std::uint64_t erasures_checked = 0;  // LevelDB: deleted texts looked for in the files.
  std::vector<std::string> violations;  // Empty: every invariant held.
  std::string Summary() const;
};

HistoryReport RunHistoryCheck(const HistoryOptions& options);

}  // namespace chat::check

#include "commit_queue.h"

#include "codec.h"

namespace chat::detail {

CommitQueue::CommitQueue(KvEngine* engine, bool sync, bool group, std::size_t max_group)
    : engine_(engine), sync_(sync), group_(group), max_group_(max_group == 0 ? 1 : max_group) {
  thread_ = std::thread([this] { Run(); });
}

CommitQueue::~CommitQueue() { Stop(); }

void CommitQueue::Stop() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  work_cv_.SignalAll();
  if (thread_.joinable()) thread_.join();
}

void CommitQueue::Enqueue(std::shared_ptr<Ticket> ticket) {
  {
    MutexLock lock(&mu_);
    queue_.push_back(std::move(ticket));
  }
  work_cv_.Signal();
}

Status CommitQueue::Wait(const std::shared_ptr<Ticket>& ticket) {
  MutexLock lock(&mu_);
  while (!ticket->done) done_cv_.Wait(&mu_);
  return ticket->result;
}

Status CommitQueue::Commit(std::shared_ptr<Ticket> ticket) {
  Enqueue(ticket);
  return Wait(ticket);
}

void CommitQueue::OnComplete(const std::shared_ptr<Ticket>& ticket, Completion c) {
  Status result;
  {
    MutexLock lock(&mu_);
    if (!ticket->done) {
      ticket->completions.push_back(std::move(c));
      return;
    }
    result = ticket->result;
  }
  c(result);
}

Status CommitQueue::health() {
  MutexLock lock(&mu_);
  return failed_;
}

std::uint64_t CommitQueue::groups() const {
  MutexLock lock(&mu_);
  return groups_;
}

std::uint64_t CommitQueue::entries() const {
  MutexLock lock(&mu_);
  return entries_;
}

void CommitQueue::MergeCounters(const std::vector<std::shared_ptr<Ticket>>& group, KvBatch* merged) {
  std::map<std::string_view, std::uint64_t> highest;
  for (const auto& t : group) {
    for (const auto& [key, value] : t->counters) {
      auto& h = highest[key];
      h = std::max(h, value);
    }
  }
  for (const auto& [key, value] : highest) {
    auto it = counters_written_.find(key);
    if (it != counters_written_.end() && it->second >= value) continue;
    Writer w;
    w.U64(value);
    merged->Put(std::string(key), w.Take());
    if (it == counters_written_.end()) {
      counters_written_.emplace(std::string(key), value);
    } else {
      it->second = value;
    }
  }
}

void CommitQueue::Run() {
  std::vector<std::shared_ptr<Ticket>> group;
  KvBatch merged;
  for (;;) {
    Status failed;
    {
      MutexLock lock(&mu_);
      while (!stop_ && queue_.empty()) work_cv_.Wait(&mu_);
      if (queue_.empty()) return;  // stop_ and drained.
      // Take every waiting ticket (up to the bound): they share the write and its fsync.
      std::size_t n = group_ ? std::min(queue_.size(), max_group_) : 1;
      for (std::size_t i = 0; i < n; ++i) {
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      failed = failed_;
    }

    Status s = failed;
    bool any_entry = false;
    if (s.ok()) {
      merged.Clear();
      bool sync = false;
      for (const auto& t : group) {
        merged.Append(t->batch);
        sync |= t->sync;
        any_entry |= t->entry != nullptr;
      }
      // After the batches: a counter value is never lower than one written earlier.
      MergeCounters(group, &merged);
      s = engine_->Write(merged, sync && sync_);
      if (!s.ok()) s = s.WithContext(engine_->Describe() + ": write");
    }
    // Observers run here, in queue order, before any caller learns of success: this is what
    // orders live delivery by sequence number.
    if (s.ok()) {
      for (const auto& t : group) {
        if (t->on_durable) t->on_durable();
        if (t->observer && t->entry) {
          const MemberList& previous = t->previous_members ? t->previous_members : t->members;
          t->observer(CommittedEntry{*t->entry, t->members, previous});
        }
      }
    }
    std::vector<Completion> completions;
    {
      MutexLock lock(&mu_);
      if (!s.ok() && failed_.ok()) failed_ = s;
      if (s.ok() && any_entry) ++groups_;
      for (const auto& t : group) {
        if (s.ok() && t->entry) ++entries_;
        t->result = s;
        t->done = true;
        for (auto& c : t->completions) completions.push_back(std::move(c));
        t->completions.clear();
      }
    }
    done_cv_.SignalAll();
    for (auto& c : completions) c(s);
    group.clear();
  }
}

}  // namespace chat::detail

#include "commit_queue.h"

namespace chat::detail {

CommitQueue::CommitQueue(KvEngine* engine, bool sync, bool group, std::size_t max_group)
    : engine_(engine), sync_(sync), group_(group), max_group_(max_group == 0 ? 1 : max_group) {
  thread_ = std::thread([this] { Run(); });
}

CommitQueue::~CommitQueue() { Stop(); }

void CommitQueue::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void CommitQueue::Enqueue(std::shared_ptr<Ticket> ticket) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(ticket));
  }
  work_cv_.notify_one();
}

Status CommitQueue::Wait(const std::shared_ptr<Ticket>& ticket) {
  std::unique_lock lock(mu_);
  done_cv_.wait(lock, [&] { return ticket->done; });
  return ticket->result;
}

Status CommitQueue::Commit(std::shared_ptr<Ticket> ticket) {
  Enqueue(ticket);
  return Wait(ticket);
}

void CommitQueue::OnComplete(const std::shared_ptr<Ticket>& ticket, Completion c) {
  Status result;
  {
    std::lock_guard lock(mu_);
    if (!ticket->done) {
      ticket->completions.push_back(std::move(c));
      return;
    }
    result = ticket->result;
  }
  c(result);
}

Status CommitQueue::health() {
  std::lock_guard lock(mu_);
  return failed_;
}

std::uint64_t CommitQueue::groups() const {
  std::lock_guard lock(mu_);
  return groups_;
}

std::uint64_t CommitQueue::entries() const {
  std::lock_guard lock(mu_);
  return entries_;
}

void CommitQueue::Run() {
  std::vector<std::shared_ptr<Ticket>> group;
  KvBatch merged;
  for (;;) {
    Status failed;
    {
      std::unique_lock lock(mu_);
      work_cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
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
      s = engine_->Write(merged, sync && sync_);
      if (!s.ok()) s = s.WithContext(engine_->Describe() + ": write");
    }
    // Observers run here, in queue order, before any caller learns of success: this is what
    // orders live delivery by sequence number.
    if (s.ok()) {
      for (const auto& t : group) {
        if (t->on_durable) t->on_durable();
        if (t->observer && t->entry) t->observer(*t->entry);
      }
    }
    std::vector<Completion> completions;
    {
      std::lock_guard lock(mu_);
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
    done_cv_.notify_all();
    for (auto& c : completions) c(s);
    group.clear();
  }
}

}  // namespace chat::detail

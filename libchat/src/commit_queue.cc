#include "commit_queue.h"

#include <vector>

namespace chat::detail {

CommitQueue::CommitQueue(KvEngine* engine, bool sync, bool group, std::size_t max_group)
    : engine_(engine), sync_(sync), group_(group), max_group_(max_group == 0 ? 1 : max_group) {
  thread_ = std::thread([this] { Run(); });
}

CommitQueue::~CommitQueue() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  thread_.join();
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
    if (s.ok()) {
      merged.Clear();
      for (const auto& t : group) merged.Append(t->batch);
      s = engine_->Write(merged, sync_);
      if (!s.ok()) s = s.WithContext(engine_->Describe() + ": write");
    }
    // Observers run here, in queue order, before any caller learns of success: this is what
    // orders live delivery by sequence number.
    if (s.ok()) {
      for (const auto& t : group) {
        if (t->on_durable) t->on_durable();
        if (t->observer != nullptr && *t->observer && t->entry) (*t->observer)(*t->entry);
      }
    }
    {
      std::lock_guard lock(mu_);
      if (!s.ok() && failed_.ok()) failed_ = s;
      if (s.ok()) {
        ++groups_;
        entries_ += group.size();
      }
      for (const auto& t : group) {
        t->result = s;
        t->done = true;
      }
    }
    done_cv_.notify_all();
    group.clear();
  }
}

}  // namespace chat::detail

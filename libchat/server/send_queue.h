// SendQueue: one WebSocket session's outbound frames, bounded in frames and in bytes. Frames are shared
// buffers: an event is serialised once by the router and the same bytes are queued to every recipient.
// Not thread-safe: owned by a session and touched only on its lane's thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "libchat/types.h"

namespace chat::detail {

struct OutFrame {
  std::shared_ptr<const std::string> text;
  // For newMessage frames: the message's server timestamp, to measure send-to-deliver latency when the
  // frame has been written. 0 for every other frame.
  TimeMs message_timestamp = 0;
  bool is_message = false;
  // For newMessage frames: when the router handed the encoded frame to the lanes (steady clock, ns),
  // for the fanout_to_written stage (metrics.h, StageHistograms). 0 for every other frame.
  std::int64_t handed_ns = 0;
};

// Empties `v` and gives its storage back. Not `v = {}`: that assigns an empty initializer_list and
// keeps the capacity, which an idle connection would then hold for as long as it lives.
template <class T>
void ReleaseStorage(std::vector<T>& v) {
  std::vector<T>().swap(v);
}

class SendQueue {
 public:
  SendQueue(std::size_t max_frames, std::size_t max_bytes) : max_frames_(max_frames), max_bytes_(max_bytes) {}

  // Appends `frame` unless that would exceed a bound; false then (the caller treats the peer as a slow
  // consumer). A single frame larger than max_bytes is accepted into an empty queue, so that one large
  // response cannot wedge a connection that keeps up.
  bool Push(OutFrame frame) {
    const std::size_t n = frame.text->size();
    if (size() >= max_frames_) return false;
    if (!empty() && bytes_ + n > max_bytes_) return false;
    bytes_ += n;
    frames_.push_back(std::move(frame));
    return true;
  }
  bool empty() const { return head_ == frames_.size(); }
  // Frames it has room for without allocating: 0 once drained (nothing held while idle).
  std::size_t capacity() const { return frames_.capacity(); }
  std::size_t size() const { return frames_.size() - head_; }
  std::size_t bytes() const { return bytes_; }
  // True when more than half of either bound is used: the session stops reading requests until the
  // peer has caught up (input backpressure), so that its own responses cannot make it a slow consumer.
  bool HalfFull() const { return size() * 2 > max_frames_ || bytes_ * 2 > max_bytes_; }
  // REQUIRES: i < size()
  const OutFrame& operator[](std::size_t i) const { return frames_[head_ + i]; }
  // REQUIRES: !empty()
  const OutFrame& front() const { return frames_[head_]; }
  void Pop() {
    bytes_ -= frames_[head_].text->size();
    frames_[head_].text.reset();
    if (++head_ == frames_.size()) {
      Release();
    } else if (head_ >= 64 && head_ * 2 >= frames_.size()) {
      // A queue that never drains (a steady stream) must not grow: drop the written half. Moving
      // the frames moves pointers only; the bytes a write in flight points at stay where they are.
      frames_.erase(frames_.begin(), frames_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }
  // Drops every frame but the first `keep` (they are being written and their buffers must stay
  // alive until the write completes).
  void Clear(std::size_t keep) {
    while (size() > keep) {
      bytes_ -= frames_.back().text->size();
      frames_.pop_back();
    }
    if (empty()) Release();
  }

 private:
  // A vector read from head_, rather than a std::deque: an empty deque still holds a 512-byte block,
  // and most connections are idle with nothing queued. Memory goes back once the queue drains.
  void Release() {
    ReleaseStorage(frames_);
    head_ = 0;
  }

  const std::size_t max_frames_;
  const std::size_t max_bytes_;
  std::vector<OutFrame> frames_;
  std::size_t head_ = 0;  // frames_[0, head_) are written.
  std::size_t bytes_ = 0;
};

}  // namespace chat::detail

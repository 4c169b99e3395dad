// A deliberately lossy chat server for chat-loadgen's own tests: it speaks just enough of protocol v1
// (hello, register, login, resume, createChat, getChat, sendMessage, sync) over WebSocket on
// 127.0.0.1, and spoils newMessage deliveries on purpose - dropping, duplicating or delaying one past
// its successor - while counting exactly what it did, so a test can require that chat-loadgen
// reports precisely those numbers.
//
// Threading: the server runs on its own thread; the counters may be read from any thread once the
// load generator has finished.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

namespace chat::loadgen::test {

struct FaultPlan {
  // Of the deliveries to devices other than the sender (counted 1, 2, 3, ... in the order the server
  // makes them; the sender's own copies too with spoil_own_copies), every Nth is dropped / sent twice / held back until the next delivery to the same
  // device has gone out. 0 disables a fault. A delivery gets at most one fault, checked in that order.
  std::uint64_t drop_every = 0;
  std::uint64_t duplicate_every = 0;
  std::uint64_t delay_every = 0;
  // The sender's own copy of each message is counted and spoilt like the others' (false: it always
  // goes out intact and uncounted).
  bool spoil_own_copies = false;
};

class FakeChatServer {
 public:
  explicit FakeChatServer(FaultPlan plan);
  // Stops the thread and closes every connection.
  ~FakeChatServer();
  FakeChatServer(const FakeChatServer&) = delete;
  FakeChatServer& operator=(const FakeChatServer&) = delete;

  std::uint16_t port() const;

  // What the server did. Stop() first: frames still held back then count as dropped.
  void Stop();
  std::uint64_t dropped() const;     // Deliveries never sent (dropped, or held and never released).
  std::uint64_t duplicated() const;  // Extra copies sent.
  std::uint64_t reordered() const;   // Held deliveries sent after a later seq of the same chat.
  std::uint64_t messages() const;    // sendMessage calls accepted.

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace chat::loadgen::test

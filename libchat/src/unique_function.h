// UniqueFunction<void(Args...)>: a move-only, type-erased callable with a small inline buffer, for
// completion handlers that cross a type-erased stream (the server's Transport, libchat/server/transport.h;
// the client's ClientStream, libchat/client/client_stream.h). Boost 1.74 has no
// asio::any_completion_handler, and std::function needs copyable
// targets and allocates for anything larger than two pointers that is not trivially copyable (a
// lambda holding a shared_ptr); a session's handlers (`[self](error_code, size_t) {...}`) fit the
// 48-byte buffer here, so the hot path allocates nothing. Larger targets (Beast's composed
// operations) go to the heap.
//
// Not thread-safe; invoke at most once per assignment (the target is consumed by the call).
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace chat::detail {

template <class Signature>
class UniqueFunction;

template <class... Args>
class UniqueFunction<void(Args...)> {
 public:
  UniqueFunction() = default;
  UniqueFunction(std::nullptr_t) {}

  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, UniqueFunction>>>
  UniqueFunction(F&& f) {  // NOLINT: implicit, like std::function.
    using T = std::decay_t<F>;
    if constexpr (sizeof(T) <= kInline && alignof(T) <= alignof(std::max_align_t) &&
                  std::is_nothrow_move_constructible_v<T>) {
      ::new (static_cast<void*>(buf_)) T(std::forward<F>(f));
      ops_ = &InlineOps<T>::kOps;
    } else {
      *reinterpret_cast<T**>(buf_) = new T(std::forward<F>(f));
      ops_ = &HeapOps<T>::kOps;
    }
  }

  UniqueFunction(UniqueFunction&& o) noexcept : ops_(o.ops_) {
    if (ops_ != nullptr) ops_->move(o.buf_, buf_);
    o.ops_ = nullptr;
  }
  UniqueFunction& operator=(UniqueFunction&& o) noexcept {
    if (this != &o) {
      Reset();
      ops_ = o.ops_;
      if (ops_ != nullptr) ops_->move(o.buf_, buf_);
      o.ops_ = nullptr;
    }
    return *this;
  }
  UniqueFunction(const UniqueFunction&) = delete;
  UniqueFunction& operator=(const UniqueFunction&) = delete;
  ~UniqueFunction() { Reset(); }

  explicit operator bool() const { return ops_ != nullptr; }

  // Calls the target once and empties this object first, so that the target may store a new
  // handler into the very member it was called from.
  void operator()(Args... args) {
    UniqueFunction self(std::move(*this));
    self.ops_->call(self.buf_, std::forward<Args>(args)...);
  }

  void Reset() {
    if (ops_ != nullptr) ops_->destroy(buf_);
    ops_ = nullptr;
  }

 private:
  static constexpr std::size_t kInline = 48;

  struct Ops {
    void (*call)(void*, Args&&...);
    void (*move)(void* from, void* to);
    void (*destroy)(void*);
  };

  template <class T>
  struct InlineOps {
    static void Call(void* p, Args&&... a) { (*static_cast<T*>(p))(std::forward<Args>(a)...); }
    static void Move(void* from, void* to) {
      ::new (to) T(std::move(*static_cast<T*>(from)));
      static_cast<T*>(from)->~T();
    }
    static void Destroy(void* p) { static_cast<T*>(p)->~T(); }
    static constexpr Ops kOps{&Call, &Move, &Destroy};
  };

  template <class T>
  struct HeapOps {
    static void Call(void* p, Args&&... a) { (**static_cast<T**>(p))(std::forward<Args>(a)...); }
    static void Move(void* from, void* to) { *static_cast<T**>(to) = *static_cast<T**>(from); }
    static void Destroy(void* p) { delete *static_cast<T**>(p); }
    static constexpr Ops kOps{&Call, &Move, &Destroy};
  };

  alignas(std::max_align_t) unsigned char buf_[kInline];
  const Ops* ops_ = nullptr;
};

}  // namespace chat::detail

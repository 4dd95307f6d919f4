// CancelToken's shared state, the engines' side of it (kprcnn/detector.h has the user's side). Header-only on
// purpose: the OpenVINO plugin (src/openvino/plugin.cpp) is not linked with the library, yet arms the same state.
//
// Protocol: an engine arms the state with how to interrupt its run (Ort::RunOptions::SetTerminate,
// ov::InferRequest::cancel) before starting it and disarms it when the run returns. cancel() calls that function
// under the lock, and disarm() takes the lock, so a cancel racing the end of a run never calls into a finished one.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <utility>

#include "kprcnn/detector.h"
#include "kprcnn/error.h"

namespace kprcnn {

struct CancelToken::State {
  // False when already cancelled: the run must not start.
  bool arm(std::function<void()> stop) {
    std::lock_guard lock(mu_);
    if (cancelled_.load()) return false;
    stop_ = std::move(stop);
    return true;
  }
  // Waits for a cancel() in progress; from here on cancel() no longer calls the run's stop function.
  void disarm() {
    std::lock_guard lock(mu_);
    stop_ = nullptr;
  }
  void cancel() noexcept {
    std::lock_guard lock(mu_);
    if (cancelled_.exchange(true)) return;
    if (stop_) {
      try {
        stop_();
      } catch (...) {  // the run then finishes normally; its result is thrown away by the caller
      }
    }
  }
  bool cancelled() const noexcept { return cancelled_.load(); }

 private:
  std::mutex mu_;
  std::function<void()> stop_;
  std::atomic<bool> cancelled_{false};
};

// Arms `state` (may be null: no cancellation) for the lifetime of a run; throws kCancelled when it was cancelled
// before the run could start.
class CancelScope {
 public:
  CancelScope(CancelToken::State* state, std::function<void()> stop) : state_(state) {
    if (state_ && !state_->arm(std::move(stop))) throw cancelled_error();
  }
  ~CancelScope() {
    if (state_) state_->disarm();
  }
  CancelScope(const CancelScope&) = delete;
  CancelScope& operator=(const CancelScope&) = delete;
  bool cancelled() const noexcept { return state_ && state_->cancelled(); }

  static Error cancelled_error() {
    return Error(ErrorCode::kCancelled, "the run was cancelled (its deadline passed or the server is stopping)");
  }

 private:
  CancelToken::State* state_;
};

}  // namespace kprcnn

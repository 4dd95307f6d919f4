// The model host: loads the model (and warms it up) on a thread of its own while the server already listens, and
// keeps the server's lifecycle state (loading → ready → draining → stopped, or failed) that /readyz and admission
// read. The model cache (DetectorOptions::model_cache_dir, the CLI's default_model_cache_dir(); --no-cache turns it
// off) makes a restart skip ONNX Runtime's optimisation pass or OpenVINO's compilation.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "handlers.h"
#include "kprcnn/detector.h"
#include "kprcnn/error.h"
#include "options.h"
#include "state.h"

namespace kprcnn::server {

class ModelHost {
 public:
  explicit ModelHost(const ServerOptions& options);
  ~ModelHost();  // join()
  ModelHost(const ModelHost&) = delete;
  ModelHost& operator=(const ModelHost&) = delete;

  // Starts loading. `on_loaded` runs on the loader thread once the model is loaded and warmed up, before the state
  // becomes ready (the server seeds its scheduler with the warm-up time and starts the workers there).
  void start(std::function<void(const LoadReport&)> on_loaded);
  void join();  // a model load cannot be interrupted: waits for it

  State state() const { return state_.load(); }
  // Loading finished (ready) or failed, or `timeout` passed: the state at that moment.
  State wait_loaded(std::chrono::milliseconds timeout);
  void rethrow_load_error() const;
  void begin_drain();  // ready or loading → draining
  void stopped();      // → stopped, unless the load failed

  // The model, for the handlers: valid once the state has been ready (it stays loaded until the host is destroyed).
  const PredictContext& context() const { return ctx_; }
  bool loaded() const { return ctx_.detector != nullptr; }

 private:
  void load(const std::function<void(const LoadReport&)>& on_loaded);
  void fail(const Error& e);

  const ServerOptions& options_;
  std::atomic<State> state_{State::kLoading};
  std::unique_ptr<Detector> detector_;
  PredictContext ctx_;
  std::thread loader_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::optional<Error> error_;
};

}  // namespace kprcnn::server

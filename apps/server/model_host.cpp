#include "model_host.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "log.h"

namespace kprcnn::server {
namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace

const char* to_string(State state) noexcept {
  switch (state) {
    case State::kLoading: return "loading";
    case State::kReady: return "ready";
    case State::kDraining: return "draining";
    case State::kFailed: return "failed";
    case State::kStopped: return "stopped";
  }
  return "unknown";
}

ModelHost::ModelHost(const ServerOptions& options) : options_(options) {}

ModelHost::~ModelHost() {
  join();
}

void ModelHost::start(std::function<void(const LoadReport&)> on_loaded) {
  loader_ = std::thread([this, on_loaded = std::move(on_loaded)] { load(on_loaded); });
}

void ModelHost::join() {
  if (loader_.joinable()) loader_.join();
}

void ModelHost::load(const std::function<void(const LoadReport&)>& on_loaded) {
  try {
    const auto t0 = Clock::now();
    DetectorOptions d = options_.options.detector;  // the option table's (serve's flags)
    d.concurrent_runs = options_.workers;
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    d.intra_op_threads = intra_op_threads(options_, cores);
    // Readiness means a request will not pay for the first run's allocations and planning.
    d.warm_up_runs = std::max(1, d.warm_up_runs);
    auto det = std::make_unique<Detector>(options_.model, d);
    const auto t1 = Clock::now();
    const LoadReport& report = det->load_report();
    ctx_.detector = det.get();
    ctx_.model_name = options_.model.filename().string();
    ctx_.max_pixels = options_.max_pixels;
    detector_ = std::move(det);
    on_loaded(report);
    State expected = State::kLoading;
    state_.compare_exchange_strong(expected, State::kReady);
    nlohmann::ordered_json line = {{"model", options_.model.string()},
                                   {"keypoints", detector_->colormap().keypoints.size()},
                                   {"load_ms", std::round(ms_between(t0, t1) - report.warm_up_ms)},
                                   {"warmup_ms", std::round(report.warm_up_ms)},
                                   {"cache_hit", report.cache_hit},
                                   {"cache_file", report.cache_file.string()},
                                   {"workers", options_.workers},
                                   {"threads_per_worker", d.intra_op_threads},
                                   {"engine", report.engine_description},
                                   {"queue", queue_capacity(options_)},
                                   {"onnxruntime", onnxruntime_version()}};
    if (!report.cache_note.empty()) line["cache_note"] = report.cache_note;
    log_event("ready", line);
  } catch (const Error& e) {
    fail(e);
  } catch (const std::exception& e) {
    fail(Error(ErrorCode::kInternal, std::string("internal error while loading the model: ") + e.what()));
  }
  {
    std::lock_guard lock(mu_);
    done_ = true;
  }
  cv_.notify_all();
}

void ModelHost::fail(const Error& e) {
  {
    std::lock_guard lock(mu_);
    error_ = e;
  }
  state_.store(State::kFailed);
  log_event("model_load_failed",
            {{"model", options_.model.string()}, {"code", to_string(e.code())}, {"message", e.what()}});
}

State ModelHost::wait_loaded(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return done_; });
  return state_.load();
}

void ModelHost::rethrow_load_error() const {
  std::lock_guard lock(mu_);
  if (error_) throw *error_;
}

void ModelHost::begin_drain() {
  State s = state_.load();
  while ((s == State::kReady || s == State::kLoading) && !state_.compare_exchange_weak(s, State::kDraining)) {
  }
}

void ModelHost::stopped() {
  if (state_.load() != State::kFailed) state_.store(State::kStopped);
}

}  // namespace kprcnn::server

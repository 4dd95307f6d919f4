#include "scheduler.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>

#include "handlers.h"
#include "log.h"

namespace kprcnn::server {
namespace {

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// Weight of the newest run in the service-time mean: a few runs follow a change (another image size, a loaded
// machine) without one odd run swinging the admission decision.
constexpr double kServiceWeight = 0.3;

}  // namespace

WaitEstimate estimate_wait(int workers, std::span<const double> running_ms, std::size_t queued, double service_ms) {
  WaitEstimate e;
  workers = std::max(1, workers);
  if (running_ms.size() + queued < static_cast<std::size_t>(workers)) {
    e.idle_worker = true;
    e.finish_ms = service_ms;
    return e;
  }
  double ahead = static_cast<double>(queued) * service_ms;
  for (double ran : running_ms) ahead += std::max(0.0, service_ms - ran);
  e.wait_ms = ahead / workers;
  e.finish_ms = e.wait_ms + service_ms;
  return e;
}

struct Scheduler::Entry {
  Job job;
  CancelToken cancel;
  Clock::time_point enqueued, started;  // started: when a worker took it (set with its running_ slot)
  std::atomic<bool> claimed{false};     // answered (or being answered) by finish()
};

Scheduler::Scheduler(const ServerOptions& options, Metrics& metrics, Now now)
    : options_(options),
      metrics_(metrics),
      now_(std::move(now)),
      queue_(static_cast<std::size_t>(server::queue_capacity(options))),
      running_(static_cast<std::size_t>(std::max(1, options.workers))) {}

Scheduler::~Scheduler() {
  shut_down(unavailable("shutting_down", "the server stopped before this request finished", options_.retry_after_s));
  join();
}

void Scheduler::start() {
  for (std::size_t slot = 0; slot < running_.size(); ++slot) {
    workers_.emplace_back([this, slot] { worker_loop(slot); });
  }
  watchdog_ = std::thread([this] { watchdog_loop(); });
}

std::optional<Response> Scheduler::refuse_locked(Clock::time_point deadline, Clock::time_point now) {
  if (closed_) {
    metrics_.reject("shutting_down");
    return unavailable("shutting_down", "the server stopped before this request could run", options_.retry_after_s);
  }
  if (queue_.full()) {
    metrics_.reject("queue_full");
    return unavailable("queue_full", "the server is at capacity; retry after the Retry-After delay",
                       options_.retry_after_s);
  }
  if (service_ms_ <= 0) return std::nullopt;
  std::vector<double> ran;
  for (const EntryPtr& e : running_) {
    if (e) ran.push_back(ms_between(e->started, now));
  }
  const WaitEstimate est = estimate_wait(static_cast<int>(running_.size()), ran, waiting_, service_ms_);
  const double left_ms = ms_between(now, deadline);
  // The estimate is a mean: runs vary (image sizes, other load on the machine). Accepting only what is expected to
  // finish with kAdmissionHeadroom to spare keeps the requests accepted from turning into 504s.
  const double needed_ms = est.finish_ms * kAdmissionHeadroom;
  if (est.idle_worker || needed_ms <= left_ms) return std::nullopt;
  metrics_.reject("expected_wait");
  // When the work ahead will have shrunk enough for a request like this one to fit.
  const int retry = std::max(options_.retry_after_s, static_cast<int>(std::ceil((needed_ms - left_ms) / 1000)));
  char text[160];
  std::snprintf(text, sizeof text,
                "the server is busy: %zu requests ahead, an expected %.1f s to answer this one, past its %.1f s "
                "deadline (--timeout); retry after the Retry-After delay",
                ran.size() + waiting_, est.finish_ms / 1000, left_ms / 1000);
  return unavailable("overloaded", text, std::min(retry, 3600));
}

std::optional<Response> Scheduler::refuse(Clock::time_point deadline) {
  std::lock_guard lock(mu_);
  return refuse_locked(deadline, now_());
}

bool Scheduler::submit(Job job) {
  auto entry = std::make_shared<Entry>();
  entry->job = std::move(job);
  std::optional<Response> refused;
  {
    // Decided and queued under one lock: concurrent submits each see the ones before them.
    std::lock_guard lock(mu_);
    const auto now = now_();
    refused = refuse_locked(entry->job.deadline, now);
    if (!refused) {
      entry->enqueued = now;
      EntryPtr item = entry;
      if (queue_.try_push(item)) {
        pending_.insert(entry);
        ++waiting_;
      } else {
        metrics_.reject("queue_full");
        refused = unavailable("queue_full", "the server is at capacity; retry after the Retry-After delay",
                              options_.retry_after_s);
      }
    }
  }
  if (refused) entry->job.responder->respond(std::move(*refused));
  return !refused;
}

void Scheduler::seed_service_ms(double ms) {
  std::lock_guard lock(mu_);
  service_ms_ = std::max(0.0, ms);
}

double Scheduler::service_ms() const {
  std::lock_guard lock(mu_);
  return service_ms_;
}

bool Scheduler::finish(const EntryPtr& entry, Response response, const char* reject) {
  // The first caller claims the answer; the reject is counted before the answer goes out, so a client that sees the
  // answer also sees the metric.
  const bool won = !entry->claimed.exchange(true);
  if (won) {
    if (reject) metrics_.reject(reject);
    entry->job.responder->respond(std::move(response));
  }
  std::lock_guard lock(mu_);
  pending_.erase(entry);
  return won;
}

void Scheduler::worker_loop(std::size_t slot) {
  while (std::optional<EntryPtr> item = queue_.pop()) {
    const EntryPtr& entry = *item;
    const auto picked = now_();
    const double queue_ms = ms_between(entry->enqueued, picked);
    metrics_.queue_wait(queue_ms / 1000);
    {
      std::lock_guard lock(mu_);
      --waiting_;
      if (!pending_.count(entry)) continue;  // the deadline or shutdown answered it while queued
      entry->started = picked;
      running_[slot] = entry;
    }
    auto leave_slot = [&] {
      std::lock_guard lock(mu_);
      running_[slot] = nullptr;
    };
    Responder& responder = *entry->job.responder;
    if (responder.client_gone()) {  // it timed out or retried elsewhere while queued: do not run the model
      leave_slot();
      finish(entry, error_response(499, "client_gone", "the client closed the connection before its turn"),
             "client_gone");
      continue;
    }
    if (picked >= entry->job.deadline) {
      leave_slot();
      finish(entry, deadline_response(options_.timeout), "deadline");
      continue;
    }
    Work work;
    try {
      work = entry->job.work(entry->cancel);
    } catch (const std::exception& e) {  // handlers answer errors themselves; this is a last resort
      work.response = error_response(500, "internal", std::string("internal error: ") + e.what());
    }
    const auto done = now_();
    const double infer_ms = ms_between(picked, done);
    {
      std::lock_guard lock(mu_);
      running_[slot] = nullptr;
      if (work.model_ran && !entry->cancel.cancelled()) {
        // The first request replaces the warm-up's figure: that run paid first-run costs, on a synthetic image at
        // the library's default size rather than this server's requests.
        service_ms_ = !measured_ ? infer_ms : service_ms_ + kServiceWeight * (infer_ms - service_ms_);
        measured_ = true;
      }
    }
    work.response.queue_ms = queue_ms;
    work.response.infer_ms = infer_ms;
    metrics_.inference(infer_ms / 1000);
    finish(entry, std::move(work.response));  // loses to a 504 already sent; the answer is then dropped
  }
}

void Scheduler::expire_deadlines() {
  std::vector<EntryPtr> expired;
  {
    std::lock_guard lock(mu_);
    const auto now = now_();
    for (const EntryPtr& e : pending_) {
      if (now >= e->job.deadline) expired.push_back(e);
    }
  }
  for (const EntryPtr& e : expired) {
    finish(e, deadline_response(options_.timeout), "deadline");
    e->cancel.cancel();  // a running job's engine stops; a queued one is skipped by its worker
  }
}

void Scheduler::watchdog_loop() {
  std::unique_lock lock(mu_);
  while (!watchdog_cv_.wait_for(lock, std::chrono::milliseconds(50), [&] { return stop_watchdog_; })) {
    lock.unlock();
    expire_deadlines();
    lock.lock();
  }
}

int Scheduler::shut_down(const Response& response) {
  std::vector<EntryPtr> left;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    left.assign(pending_.begin(), pending_.end());
  }
  int answered = 0;
  for (const EntryPtr& e : left) {
    if (finish(e, response, response.error.c_str())) ++answered;
    e->cancel.cancel();
  }
  queue_.close();
  return answered;
}

void Scheduler::join() {
  queue_.close();
  {
    std::lock_guard lock(mu_);
    stop_watchdog_ = true;
  }
  watchdog_cv_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
  for (auto& w : workers_) {
    if (w.joinable()) w.join();
  }
}

std::size_t Scheduler::queue_depth() const {
  return queue_.size();
}
std::size_t Scheduler::queue_capacity() const {
  return queue_.capacity();
}
int Scheduler::running() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(
      std::count_if(running_.begin(), running_.end(), [](const EntryPtr& e) { return e != nullptr; }));
}

}  // namespace kprcnn::server

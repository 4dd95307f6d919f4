// The scheduler: admission, the bounded queue in front of a fixed pool of inference workers, and request deadlines.
// No HTTP here: a job is a deadline, the work to run on a worker and the Responder its answer goes to.
//
// Admission (fault row 12): a request is refused at once (503 + Retry-After) when the queue is full, or when it
// would have to wait and its expected finish -- the work ahead of it spread over the workers, plus its own run,
// from a running estimate of the service time, plus kAdmissionHeadroom (20 %) -- falls after its deadline: better a
// prompt 503 the client can retry
// elsewhere than a 504 after the whole deadline in the queue. A request that an idle worker can take at once is
// always accepted (the estimate cannot know this image's size); its deadline still bounds it.
// Deadlines: the watchdog answers 504 to a job whose deadline passed, queued or running, and cancels its run
// (CancelToken): the engine stops and the worker takes the next job.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <unordered_set>
#include <vector>

#include "bounded_queue.h"
#include "http_types.h"
#include "kprcnn/detector.h"
#include "metrics.h"
#include "options.h"

namespace kprcnn::server {

// A request waiting for a worker is accepted when its expected finish times this fits before its deadline.
inline constexpr double kAdmissionHeadroom = 1.2;

// What a job's work gives back: the answer, and whether it was a full model run (for the service-time estimate;
// a rejected image answers in microseconds and must not pull the estimate down).
struct Work {
  Response response;
  bool model_ran = false;
};

struct Job {
  std::shared_ptr<Responder> responder;
  Clock::time_point deadline;
  // Runs on a worker; `cancel` is cancelled when the deadline passes while it runs (or the server stops).
  std::function<Work(const CancelToken& cancel)> work;
};

// The expected time to answer a new request, from what the workers are doing.
struct WaitEstimate {
  bool idle_worker = false;  // a worker is free: the request starts at once
  double wait_ms = 0;        // until a worker takes it
  double finish_ms = 0;      // until it is answered: wait + one service time
};
// `running_ms`: how long each running job has run; `queued`: jobs waiting; `service_ms`: the estimated service time.
// The work ahead is the rest of each running job (at least 0) plus a full service per queued one, over `workers`.
WaitEstimate estimate_wait(int workers, std::span<const double> running_ms, std::size_t queued, double service_ms);

class Scheduler {
 public:
  using Now = std::function<Clock::time_point()>;
  // `metrics` must outlive the scheduler. `now` is the clock (tests inject one).
  Scheduler(const ServerOptions& options, Metrics& metrics, Now now = Clock::now);
  ~Scheduler();  // shut_down() and join()
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Starts the workers and the deadline watchdog (once the model is loaded).
  void start();

  // A 503 for a request with this deadline if it would be refused now (checked at the headers, before the body is
  // read); nullopt when it may come. submit() decides for good.
  std::optional<Response> refuse(Clock::time_point deadline);
  // Queues the job, or answers it at once (503: queue full, expected wait past its deadline, shutting down).
  // Returns whether it was queued.
  bool submit(Job job);

  // The service-time estimate: an exponentially weighted mean of the recent model runs' times (weight 0.3 on the
  // newest), seeded with the warm-up run's until the first request's run replaces it.
  void seed_service_ms(double ms);
  double service_ms() const;

  // Answers every job not answered yet with `response` (shutdown), cancels the running ones and closes the queue:
  // workers finish and exit. Returns how many were answered.
  int shut_down(const Response& response);
  void join();  // the workers and the watchdog

  // 504 to the jobs whose deadline has passed (the watchdog calls it every 50 ms; tests call it directly).
  void expire_deadlines();

  std::size_t queue_depth() const;
  std::size_t queue_capacity() const;
  int running() const;

 private:
  struct Entry;
  using EntryPtr = std::shared_ptr<Entry>;
  void worker_loop(std::size_t slot);
  void watchdog_loop();
  // Answers the job unless already answered (then false); `reject`: the metric reason to count when it answers.
  bool finish(const EntryPtr& entry, Response response, const char* reject = nullptr);
  std::optional<Response> refuse_locked(Clock::time_point deadline, Clock::time_point now);

  const ServerOptions& options_;
  Metrics& metrics_;
  const Now now_;
  apps::BoundedQueue<EntryPtr> queue_;

  mutable std::mutex mu_;                 // guards everything below
  std::unordered_set<EntryPtr> pending_;  // submitted, not answered yet (queued or running)
  std::size_t waiting_ = 0;               // submitted, not yet taken by a worker
  std::vector<EntryPtr> running_;         // per worker slot: the job it runs, or null
  double service_ms_ = 0;                 // 0: no estimate yet (never refuses on it)
  bool measured_ = false;                 // service_ms_ comes from requests, not only from the seed
  bool closed_ = false, stop_watchdog_ = false;
  std::condition_variable watchdog_cv_;

  std::vector<std::thread> workers_;
  std::thread watchdog_;
};

}  // namespace kprcnn::server

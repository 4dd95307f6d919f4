// Units of apps/common/bounded_queue.h and apps/server/scheduler.cpp: admission by expected wait (fault
// row 12) and deadlines that cancel a running job, on a clock the test moves by hand and jobs that wait on their
// CancelToken instead of a model.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "bounded_queue.h"
#include "handlers.h"
#include "scheduler.h"

namespace kprcnn::server {
namespace {

using namespace std::chrono_literals;
using apps::BoundedQueue;

TEST(BoundedQueue, NonBlockingPushFifoAndClose) {
  BoundedQueue<std::unique_ptr<int>> q(2);
  auto a = std::make_unique<int>(1), b = std::make_unique<int>(2), c = std::make_unique<int>(3);
  EXPECT_TRUE(q.try_push(a));
  EXPECT_TRUE(q.try_push(b));
  EXPECT_TRUE(q.full());
  EXPECT_FALSE(q.try_push(c));  // full: refused at once, item kept by the caller
  ASSERT_TRUE(c);
  EXPECT_EQ(**q.pop(), 1);
  EXPECT_TRUE(q.try_push(c));
  q.close();
  auto d = std::make_unique<int>(4);
  EXPECT_FALSE(q.try_push(d));  // closed
  EXPECT_EQ(**q.pop(), 2);      // items queued before close are still handed out
  EXPECT_EQ(**q.pop(), 3);
  EXPECT_FALSE(q.pop().has_value());
}

TEST(BoundedQueue, BlockingPushWaitsForRoomAndCloseWakesEveryone) {
  BoundedQueue<int> q(1);
  EXPECT_TRUE(q.push(1));
  std::atomic<bool> pushed{false};
  std::thread producer([&] {
    pushed = q.push(2);  // blocks: the queue is full
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(pushed.load());
  EXPECT_EQ(*q.pop(), 1);
  producer.join();
  EXPECT_TRUE(pushed.load());
  std::atomic<int> woke{0};
  std::vector<std::thread> consumers;
  EXPECT_EQ(*q.pop(), 2);
  for (int i = 0; i < 3; ++i) {
    consumers.emplace_back([&] {
      while (q.pop()) {
      }
      ++woke;
    });
  }
  q.close();
  for (auto& t : consumers) t.join();
  EXPECT_EQ(woke.load(), 3);
  EXPECT_FALSE(q.push(3));  // closed
}

TEST(EstimateWait, IdleWorkerStartsAtOnceBusyOnesSpreadTheWorkAhead) {
  const std::vector<double> none, one_half_done = {500};
  EXPECT_TRUE(estimate_wait(1, none, 0, 1000).idle_worker);
  EXPECT_TRUE(estimate_wait(2, one_half_done, 0, 1000).idle_worker);
  const WaitEstimate busy = estimate_wait(1, one_half_done, 2, 1000);  // 500 left + 2 x 1000 queued
  EXPECT_FALSE(busy.idle_worker);
  EXPECT_DOUBLE_EQ(busy.wait_ms, 2500);
  EXPECT_DOUBLE_EQ(busy.finish_ms, 3500);
  const std::vector<double> overdue = {1500, 200};  // one ran past the estimate: nothing left of it, not negative
  const WaitEstimate two = estimate_wait(2, overdue, 1, 1000);
  EXPECT_DOUBLE_EQ(two.wait_ms, (0 + 800 + 1000) / 2.0);
}

// Answers that a job receives, for the test to wait on.
class FakeResponder final : public Responder {
 public:
  bool respond(Response response) override {
    std::lock_guard lock(mu_);
    if (response_) return false;
    response_ = std::move(response);
    cv_.notify_all();
    return true;
  }
  bool answered() override {
    std::lock_guard lock(mu_);
    return response_.has_value();
  }
  bool client_gone() override { return false; }
  std::optional<Response> wait(std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return response_.has_value(); });
    return response_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<Response> response_;
};

// A job that "runs the model" until released or cancelled: what a slow Detector::predict does with its token.
struct BlockingWork {
  std::atomic<bool> release{false}, started{false}, saw_cancel{false};
  Work operator()(const CancelToken& cancel) {
    started = true;
    while (!release && !cancel.cancelled()) std::this_thread::sleep_for(1ms);
    saw_cancel = cancel.cancelled();
    Work w;
    w.response.body = "done";
    w.model_ran = !saw_cancel;
    return w;
  }
};

struct Fixture {
  ServerOptions options;
  Metrics metrics;
  Clock::time_point t0 = Clock::now();
  std::atomic<Clock::rep> offset{0};  // the test's clock: t0 + offset, moved by advance()
  std::unique_ptr<Scheduler> scheduler;

  explicit Fixture(int queue) {
    options.model = "unused.onnx";
    options.workers = 1;
    options.queue = queue;
    options.timeout = 2500ms;
    options.retry_after_s = 1;
    scheduler = std::make_unique<Scheduler>(options, metrics, [this] { return now(); });
  }
  Clock::time_point now() const { return t0 + Clock::duration(offset.load()); }
  void advance(std::chrono::milliseconds d) { offset += std::chrono::duration_cast<Clock::duration>(d).count(); }
  std::shared_ptr<FakeResponder> submit(const std::shared_ptr<BlockingWork>& work) {
    auto responder = std::make_shared<FakeResponder>();
    scheduler->submit(Job{responder, now() + options.timeout, [work](const CancelToken& c) { return (*work)(c); }});
    return responder;
  }
  void wait_running(int n) {
    for (int i = 0; i < 5000 && scheduler->running() != n; ++i) std::this_thread::sleep_for(1ms);
    ASSERT_EQ(scheduler->running(), n);
  }
};

// fault row 12: admitted while the expected finish is within the deadline, refused at once (503 + Retry-After)
// when it is not; as the running job progresses, the same request fits again.
TEST(Scheduler, RefusesWhenTheExpectedFinishPassesTheDeadline) {
  Fixture f(4);
  f.scheduler->seed_service_ms(1000);
  f.scheduler->start();
  auto a = std::make_shared<BlockingWork>(), b = std::make_shared<BlockingWork>(), c = std::make_shared<BlockingWork>();
  auto ra = f.submit(a);  // idle worker: runs at once
  f.wait_running(1);
  auto rb = f.submit(b);  // (1000 ahead + its own 1000) x 1.2 headroom = 2400 <= 2500: queued
  EXPECT_FALSE(rb->answered());
  EXPECT_EQ(f.scheduler->queue_depth(), 1u);
  auto rc = f.submit(c);  // (2000 ahead + 1000) x 1.2 = 3600 > 2500: refused, without waiting for anything
  ASSERT_TRUE(rc->answered());
  const Response refused = *rc->wait();
  EXPECT_EQ(refused.status, 503);
  EXPECT_EQ(refused.error, "overloaded");
  ASSERT_EQ(refused.headers.size(), 1u);
  EXPECT_EQ(refused.headers[0].first, "Retry-After");
  EXPECT_EQ(refused.headers[0].second, "2");  // 1100 ms over: rounded up to whole seconds
  EXPECT_FALSE(c->started.load());
  EXPECT_EQ(f.metrics.rejects("expected_wait"), 1u);
  // The headers-time check agrees.
  EXPECT_TRUE(f.scheduler->refuse(f.now() + f.options.timeout).has_value());

  f.advance(950ms);  // a has run 950 of its 1000: (50 + 1000 queued + 1000) x 1.2 = 2460 <= 2500
  EXPECT_FALSE(f.scheduler->refuse(f.now() + f.options.timeout).has_value());
  a->release = true;
  ASSERT_TRUE(ra->wait());
  EXPECT_EQ(ra->wait()->status, 200);
  b->release = true;
  ASSERT_TRUE(rb->wait());
  EXPECT_EQ(rb->wait()->status, 200);
  f.scheduler->shut_down(unavailable("shutting_down", "bye", 1));
  f.scheduler->join();
}

TEST(Scheduler, NoEstimateYetNeverRefusesOnIt) {
  Fixture f(4);
  f.scheduler->start();
  auto a = std::make_shared<BlockingWork>(), b = std::make_shared<BlockingWork>();
  auto ra = f.submit(a);
  f.wait_running(1);
  auto rb = f.submit(b);
  EXPECT_FALSE(rb->answered());
  a->release = b->release = true;
  EXPECT_EQ(ra->wait()->status, 200);
  EXPECT_EQ(rb->wait()->status, 200);
  f.scheduler->shut_down(unavailable("shutting_down", "bye", 1));
  f.scheduler->join();
}

// A deadline that passes while the job runs: 504 at once, the run is cancelled (the engine stops), and the worker
// takes the next job.
TEST(Scheduler, DeadlineAnswers504CancelsTheRunAndFreesTheWorker) {
  Fixture f(4);
  f.scheduler->start();
  auto a = std::make_shared<BlockingWork>();
  auto ra = f.submit(a);
  f.wait_running(1);
  f.advance(3000ms);  // past a's 2500 ms deadline
  f.scheduler->expire_deadlines();
  ASSERT_TRUE(ra->answered());
  EXPECT_EQ(ra->wait()->status, 504);
  EXPECT_EQ(ra->wait()->error, "deadline_exceeded");
  f.wait_running(0);  // a's work saw the cancel and returned, without being released
  EXPECT_TRUE(a->saw_cancel.load());
  EXPECT_EQ(f.metrics.rejects("deadline"), 1u);
  EXPECT_EQ(f.scheduler->service_ms(), 0.0);  // a cancelled run says nothing about the service time

  auto b = std::make_shared<BlockingWork>();
  b->release = true;
  auto rb = f.submit(b);
  ASSERT_TRUE(rb->wait());
  EXPECT_EQ(rb->wait()->status, 200);
  f.scheduler->shut_down(unavailable("shutting_down", "bye", 1));
  f.scheduler->join();
}

TEST(Scheduler, ShutDownAnswersQueuedAndRunningJobsAndCancelsTheRun) {
  Fixture f(4);
  f.scheduler->start();
  auto a = std::make_shared<BlockingWork>(), b = std::make_shared<BlockingWork>();
  auto ra = f.submit(a);
  f.wait_running(1);
  auto rb = f.submit(b);
  EXPECT_EQ(f.scheduler->shut_down(unavailable("shutting_down", "bye", 1)), 2);
  EXPECT_EQ(ra->wait()->status, 503);
  EXPECT_EQ(rb->wait()->status, 503);
  f.scheduler->join();  // returns: the running job was cancelled, the queued one is never run
  EXPECT_TRUE(a->saw_cancel.load());
  EXPECT_FALSE(b->started.load());
  auto c = std::make_shared<BlockingWork>();
  EXPECT_EQ(f.submit(c)->wait()->status, 503);  // after shutdown: refused
}

}  // namespace
}  // namespace kprcnn::server

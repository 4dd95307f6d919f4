// serve(): the process around a Server — signals, drain, exit status (the `kprcnn serve` command runs this).
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "log.h"
#include "server.h"

namespace kprcnn::server {
namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// Waits up to `timeout` for one of `set`; returns the signal number, or 0.
int wait_signal(const sigset_t& set, Milliseconds timeout) {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  ts.tv_nsec = static_cast<long>((timeout.count() % 1000) * 1'000'000);
  const int sig = ::sigtimedwait(&set, nullptr, &ts);
  return sig > 0 ? sig : 0;
}

void raise_fd_limit(rlim_t wanted) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur >= wanted) return;
  lim.rlim_cur = std::min(wanted, lim.rlim_max);
  ::setrlimit(RLIMIT_NOFILE, &lim);
}

}  // namespace

int serve(const ServerOptions& options) {
  validate(options);
  raise_fd_limit(static_cast<rlim_t>(options.max_connections) + 256);

  // Block the shutdown signals before any thread exists, so every thread (MHD, ONNX Runtime, workers) inherits
  // the mask and only sigtimedwait() below sees them.
  sigset_t set, previous;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, &previous);
  struct RestoreMask {
    const sigset_t& set;
    const sigset_t& previous;
    ~RestoreMask() {
      while (wait_signal(set, Milliseconds(0)) > 0) {
      }  // consume pending ones: unblocking them would kill us
      pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    }
  } restore{set, previous};

  Server server(options);
  server.start();
  int sig = 0;
  while (sig == 0) {
    sig = wait_signal(set, Milliseconds(100));
    if (sig == 0 && server.state() == State::kFailed) {
      server.stop();
      server.rethrow_load_error();
    }
  }
  const auto t0 = Clock::now();
  server.begin_drain();
  log_event("draining", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"},
                         {"in_flight", server.in_flight()},
                         {"drain_ms", options.drain.count()}});
  const auto deadline = t0 + options.drain;
  while (server.in_flight() > 0 && Clock::now() < deadline) {
    const auto left = std::chrono::duration_cast<Milliseconds>(deadline - Clock::now());
    if (server.wait_drained(std::min(left, Milliseconds(50))) == 0) break;
    if (wait_signal(set, Milliseconds(0)) > 0) {
      log_event("second_signal", {{"in_flight", server.in_flight()}});
      break;
    }
  }
  const int unfinished = server.in_flight();
  server.stop();
  log_event("stopped",
            {{"drain_ms", std::round(ms_between(t0, Clock::now()))}, {"unfinished", unfinished}, {"exit_code", 0}});
  return 0;
}

}  // namespace kprcnn::server

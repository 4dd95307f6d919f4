// The Server: wires the HTTP adapter (http_adapter.h, libmicrohttpd), the scheduler (scheduler.h: queue, workers,
// deadlines, admission), the model host (model_host.h: load, state) and the handlers (handlers.h: request → response
// values). What is decided here: which route a request takes, and whether a predict request is admitted at its
// headers (state, Content-Length, capacity) before its body is read; the request log line and HTTP metrics.
#include "server.h"

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <fstream>
#include <mutex>

#include "handlers.h"
#include "http_adapter.h"
#include "kprcnn/kprcnn.h"
#include "log.h"
#include "metrics.h"
#include "model_host.h"
#include "scheduler.h"

namespace kprcnn::server {
namespace {

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

double resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  double pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<double>(::sysconf(_SC_PAGESIZE));
}

// The image bytes of one predict request, owned by its job: the connection's request may be gone (a 504 sent)
// while a worker still reads them.
struct PredictJob {
  std::string body;
  PredictInput input;
};

}  // namespace

struct Server::Impl final : HttpHandler {
  explicit Impl(ServerOptions o)
      : options(std::move(o)),
        // Requests admitted at once (uploading + queued + running): bounds body memory to about
        // admission_cap x --max-body however many clients connect.
        admission_cap(2 * (queue_capacity(options) + options.workers)),
        scheduler(options, metrics),
        host(options),
        http(options, *this, metrics) {}

  ServerOptions options;
  const int admission_cap;
  Metrics metrics;
  Scheduler scheduler;
  ModelHost host;
  HttpAdapter http;
  bool stopped = false;

  std::atomic<int> admitted{0};
  std::mutex drain_mu;
  std::condition_variable drain_cv;

  // ---- HttpHandler ----

  std::optional<Response> on_headers(HttpRequest& r) override {
    if (r.uri.size() > options.max_uri) {
      metrics.reject("uri_too_long");
      return uri_too_long(r.uri.size(), options.max_uri);
    }
    const RouteEntry* route = find_route(r.path);
    if (!route) return not_found(r.path);
    r.route = route->path;
    const bool get = r.method == "GET" || r.method == "HEAD";
    if ((route->route == Route::kPredict) ? r.method != "POST" : !get) return method_not_allowed(*route, r.method);
    const State s = host.state();
    switch (route->route) {
      case Route::kIndex: return index_page();
      case Route::kHealthz: return healthz();
      case Route::kReadyz: return readyz(s, options.retry_after_s);
      case Route::kMetrics: return metrics_page(metrics.render());
      case Route::kModel:
        if (s == State::kLoading || s == State::kFailed || !host.loaded()) {
          return unavailable("not_ready", "the model is not loaded yet", options.retry_after_s);
        }
        return model_page(host.context(), options);
      case Route::kPredict: return admit_predict(r, s);
    }
    return not_found(r.path);
  }

  // Refuses before reading the body what could not run anyway. nullopt: admitted, the body is read.
  std::optional<Response> admit_predict(HttpRequest& r, State s) {
    if (s == State::kLoading || s == State::kFailed) {
      metrics.reject("not_ready");
      return unavailable("not_ready", "the model is still loading; retry shortly", options.retry_after_s);
    }
    if (s != State::kReady) {
      metrics.reject("shutting_down");
      return unavailable("shutting_down", "the server is shutting down; retry on another replica",
                         options.retry_after_s);
    }
    if (r.content_length && *r.content_length > options.max_body) {
      metrics.reject("body_too_large");
      return body_too_large(*r.content_length, options.max_body);
    }
    if (admitted.load() >= admission_cap) {
      metrics.reject("queue_full");
      return unavailable("queue_full", "the server is at capacity; retry after the Retry-After delay",
                         options.retry_after_s);
    }
    if (std::optional<Response> refused = scheduler.refuse(r.deadline)) return refused;
    r.admitted = true;
    admitted.fetch_add(1);
    return std::nullopt;
  }

  std::optional<Response> on_body(HttpRequest& r, const std::shared_ptr<Responder>& later) override {
    if (r.body_too_large) {
      metrics.reject("body_too_large");
      return body_too_large(r.received, options.max_body);
    }
    auto job = std::make_shared<PredictJob>();
    try {
      job->input = parse_predict_input(r, options);
    } catch (const Error& e) {
      metrics.reject("bad_request");
      return error_response(e);
    }
    if (Clock::now() >= r.deadline) {
      metrics.reject("deadline");
      return deadline_response(options.timeout);
    }
    job->body = std::move(r.body);  // the offsets in job->input stay valid: they are not pointers
    scheduler.submit(Job{later, r.deadline, [this, job](const CancelToken& cancel) { return run(*job, cancel); }});
    return std::nullopt;  // answered through `later`: by a worker, the deadline, a refusal or shutdown
  }

  Work run(const PredictJob& job, const CancelToken& cancel) {
    PredictStats stats;
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(job.body.data()) + job.input.image_offset;
    Work w;
    w.response = predict(host.context(), std::span(bytes, job.input.image_size), job.input.image_name, job.input.query,
                         stats, &cancel);
    w.model_ran = w.response.status == 200;
    if (stats.decoded) metrics.image_decoded();
    if (stats.rejected) metrics.image_rejected();
    return w;
  }

  void on_finished(const HttpRequest& r, const Exchange& e) override {
    const auto now = Clock::now();
    metrics.request(r.route ? r.route : "other", e.status, ms_between(r.start, now) / 1000);
    nlohmann::ordered_json line = {{"method", r.method},   {"path", r.path},
                                   {"status", e.status},   {"bytes_in", r.received},
                                   {"bytes", e.bytes_out}, {"ms", std::round(ms_between(r.start, now) * 10) / 10}};
    if (e.queue_ms >= 0) line["queue_ms"] = std::round(e.queue_ms * 10) / 10;
    if (e.infer_ms >= 0) line["infer_ms"] = std::round(e.infer_ms * 10) / 10;
    if (e.detections >= 0) line["detections"] = e.detections;
    if (!e.error.empty()) line["error"] = e.error;
    if (std::string_view(e.outcome) != "ok") line["outcome"] = e.outcome;
    log_event("request", line);
    if (r.admitted) {
      {
        std::lock_guard lock(drain_mu);
        admitted.fetch_sub(1);
      }
      drain_cv.notify_all();
    }
  }

  bool closing() const override {
    const State s = host.state();
    return s != State::kReady && s != State::kLoading;
  }

  void register_gauges() {
    metrics.add_gauge("kprcnn_queue_depth", "Predict requests waiting for a worker.",
                      [this] { return static_cast<double>(scheduler.queue_depth()); });
    metrics.add_gauge("kprcnn_queue_capacity", "Capacity of the predict queue (--queue).",
                      [this] { return static_cast<double>(scheduler.queue_capacity()); });
    metrics.add_gauge("kprcnn_inference_in_progress", "Predict requests running on a worker.",
                      [this] { return static_cast<double>(scheduler.running()); });
    metrics.add_gauge("kprcnn_service_seconds_estimate",
                      "Running estimate of one predict's service time (admission by expected wait).",
                      [this] { return scheduler.service_ms() / 1000; });
    metrics.add_gauge("kprcnn_predict_in_flight", "Predict requests admitted and not finished (upload to answer).",
                      [this] { return static_cast<double>(admitted.load()); });
    metrics.add_gauge("kprcnn_http_requests_in_flight", "HTTP requests started and not finished (any route).",
                      [this] { return static_cast<double>(http.open_requests()); });
    metrics.add_gauge("kprcnn_http_connections", "Open client connections.",
                      [this] { return static_cast<double>(http.open_connections()); });
    metrics.add_gauge("kprcnn_workers", "Inference workers (--workers).",
                      [this] { return static_cast<double>(options.workers); });
    metrics.add_gauge("kprcnn_ready", "1 when /readyz answers 200.",
                      [this] { return host.state() == State::kReady ? 1.0 : 0.0; });
    metrics.add_gauge("kprcnn_draining", "1 once shutdown has started.", [this] {
      const State s = host.state();
      return s == State::kDraining || s == State::kStopped ? 1.0 : 0.0;
    });
    metrics.add_gauge("process_resident_memory_bytes", "Resident memory of the server process.", resident_bytes);
  }
};

Server::Server(ServerOptions options) {
  validate(options);
  impl_ = std::make_unique<Impl>(std::move(options));
  impl_->register_gauges();
}

Server::~Server() {
  stop();
}

void Server::start() {
  Impl& s = *impl_;
  const ServerOptions& o = s.options;
  s.http.start();
  log_event("listening", {{"url", "http://" + (o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host) +
                                      ":" + std::to_string(s.http.port()) + "/"},
                          {"port", s.http.port()},
                          {"max_body", o.max_body},
                          {"timeout_ms", o.timeout.count()},
                          {"header_timeout_ms", o.header_timeout.count()},
                          {"drain_ms", o.drain.count()},
                          {"http", HttpAdapter::library_version()}});
  s.host.start([&s](const LoadReport& report) {
    s.scheduler.seed_service_ms(report.warm_up_ms);  // one warm-up run: the first estimate of a request's run
    s.scheduler.start();
  });
}

int Server::port() const {
  return impl_->http.port();
}
State Server::state() const {
  return impl_->host.state();
}

State Server::wait_loaded(Milliseconds timeout) {
  return impl_->host.wait_loaded(timeout);
}

void Server::rethrow_load_error() const {
  impl_->host.rethrow_load_error();
}

void Server::begin_drain() {
  impl_->host.begin_drain();
}

int Server::in_flight() const {
  return impl_->admitted.load();
}

int Server::wait_drained(Milliseconds timeout) {
  std::unique_lock lock(impl_->drain_mu);
  impl_->drain_cv.wait_for(lock, timeout, [&] { return impl_->admitted.load() == 0; });
  return impl_->admitted.load();
}

void Server::stop() {
  if (!impl_ || impl_->stopped) return;
  Impl& s = *impl_;
  s.stopped = true;
  begin_drain();
  // Answer what is still queued or running (503) and cancel the runs, so no connection stays suspended when MHD
  // stops and no worker finishes an answer nobody will read.
  const int left = s.scheduler.shut_down(
      unavailable("shutting_down", "the server stopped before this request finished", s.options.retry_after_s));
  if (left > 0) wait_drained(Milliseconds(1000));  // let MHD write those answers
  s.http.stop();                                   // closes every connection and the listening socket
  s.host.join();                                   // a model load cannot be interrupted: wait for it
  s.scheduler.join();                              // workers exit once their (cancelled) run returns
  s.host.stopped();
}

}  // namespace kprcnn::server

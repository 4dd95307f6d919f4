// kprcnn HTTP server on GNU libmicrohttpd (MHD).
//
// Why libmicrohttpd (Debian 12: libmicrohttpd-dev 0.9.75-6):
//  - cpp-httplib (Debian 12: 0.11.4+ds-1+deb12u1) has had chunked-body memory-exhaustion CVEs fixed upstream in
//    0.20.1, 0.23.0 and 0.43.4. Debian's changelog for the packaged build lists one backport only (CVE-2023-26130,
//    CRLF injection); the chunked-body fixes are not in it. Its thread pool also drops connections when full.
//  - libmicrohttpd 0.9.75-6 carries the fix for CVE-2023-27371 (MHD_PostProcessor parser crash; the Debian
//    changelog names it), and we do not use MHD_PostProcessor at all: multipart is parsed here, over a body
//    already capped by --max-body. It is a mature C library (GNU, used by systemd-journal-remote) with per-connection
//    memory limits (→ 431/414 from MHD itself), idle timeouts, incremental upload callbacks (the body cap answers
//    413 from Content-Length before any body byte is read; a chunked body is counted, never buffered past the cap)
//    and suspend/resume, so a fixed pool of inference workers can answer requests asynchronously.
//  - Boost.Beast would do too, at several times the compile cost and with far more code of ours in the HTTP path.
// What MHD 0.9.75 does not do and we add: a header deadline (slowloris: MHD's timeout is an idle timeout that a
// trickling client keeps resetting) and a body deadline, enforced by the watchdog with shutdown(2) on the socket
// (MHD reports a connection closed before it close(2)s the fd, and we hold the same lock, so the fd cannot have
// been reused); a bounded queue that answers 503 + Retry-After instead of dropping connections; per-request
// deadlines (504); readiness and drain.
//
// Request flow (MHD calls the access handler several times per request):
//   request line  → uri_log(): a Request is created (start time, deadline)
//   headers done  → on_headers(): routing, limits, admission (413/414/404/405/503 answered here, early)
//   body chunks   → on_upload(): appended up to --max-body, counted (and dropped) beyond it
//   body done     → on_body_complete(): multipart, query, then suspend + enqueue (or 503 when the queue is full)
//   worker        → predict(), then complete(): stores the Response and resumes the connection
//   resumed       → the access handler sends the stored Response
//   completed     → on_completed(): metrics, one log line
#include "server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <cstdarg>
#include <fstream>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>

#include "bounded_queue.h"
#include "handlers.h"
#include "kprcnn/kprcnn.h"
#include "listen_socket.h"
#include "log.h"
#include "metrics.h"
#include "multipart.h"
#include "web_page.h"

namespace kprcnn::server {
namespace {

using Clock = std::chrono::steady_clock;
constexpr Clock::time_point kNever = Clock::time_point::max();

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

enum class Route { kIndex, kHealthz, kReadyz, kMetrics, kModel, kPredict, kNotFound };

struct RouteEntry {
  const char* path;
  Route route;
  const char* allow;  // methods, for 405's Allow header
};
constexpr RouteEntry kRoutes[] = {
    {"/", Route::kIndex, "GET, HEAD"},         {"/healthz", Route::kHealthz, "GET, HEAD"},
    {"/readyz", Route::kReadyz, "GET, HEAD"},  {"/metrics", Route::kMetrics, "GET, HEAD"},
    {"/v1/model", Route::kModel, "GET, HEAD"}, {"/v1/predict", Route::kPredict, "POST"},
};

const RouteEntry* find_route(std::string_view path) {
  for (const auto& r : kRoutes) {
    if (path == r.path) return &r;
  }
  return nullptr;
}

// The watchdog's view of one TCP connection (MHD's socket context).
enum class Phase {
  kHeaders,   // waiting for a request line and headers: header deadline
  kBody,      // receiving a predict body: the request deadline
  kHandling,  // answered or being answered (a suspended request is watched through its own deadline)
};
struct Connection {
  int fd = -1;
  Phase phase = Phase::kHeaders;
  Clock::time_point deadline = kNever;
  bool cut = false;
};

// One HTTP request (MHD's con_cls), shared with the inference job.
struct Request {
  Clock::time_point start, deadline;
  std::string uri;  // the request target as received (with the query)
  std::string method, path;
  const RouteEntry* route = nullptr;
  bool headers_done = false, body_done = false;
  std::optional<Response> deferred;  // decided at the headers, sent on the next call (keeps the connection alive)
  bool admitted = false;             // a predict request counted in Impl::admitted_
  std::uint64_t received = 0;
  bool body_over = false;  // more than --max-body arrived: the body was dropped
  std::string body, content_type;

  // Filled before enqueueing; read by the worker while the connection is suspended.
  MHD_Connection* connection = nullptr;
  int fd = -1;  // valid while suspended (MHD never closes a suspended connection)
  std::string_view image;
  std::string image_name;
  PredictQuery query;
  Clock::time_point enqueued;

  // Hand-off of the answer: exactly one of worker / deadline / shutdown sets `answered` and resumes.
  std::mutex mu;
  bool suspended = false;
  bool answered = false;
  Response response;

  // For the log line and metrics: what send() answered.
  int status = 0;
  std::size_t bytes_out = 0;
  std::string error;
  int detections = -1;
  double queue_ms = -1, infer_ms = -1;
};
using RequestPtr = std::shared_ptr<Request>;

// True when the peer has closed its side (EOF or a socket error); false while it is connected (even if it sent
// more, e.g. a pipelined request: MSG_PEEK leaves it for MHD).
bool client_gone(int fd) {
  if (fd < 0) return false;
  char byte;
  const ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

double resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  double pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<double>(::sysconf(_SC_PAGESIZE));
}

std::string seconds_text(Milliseconds d) {
  return format_metric_value(static_cast<double>(d.count()) / 1000) + "s";
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

struct Server::Impl {
  explicit Impl(ServerOptions o)
      : options(std::move(o)),
        queue(static_cast<std::size_t>(queue_capacity(options))),
        // Requests admitted at once (uploading + queued + running): bounds body memory to about
        // admission_cap x --max-body however many clients connect.
        admission_cap(2 * (queue_capacity(options) + options.workers)) {}

  ServerOptions options;
  apps::BoundedQueue<RequestPtr> queue;
  const int admission_cap;
  Metrics metrics;

  int listen_fd = -1;
  int bound_port = 0;
  MHD_Daemon* daemon = nullptr;
  std::atomic<State> state{State::kLoading};
  bool stopped = false;

  // The model, set once by the loader before the state becomes ready.
  std::unique_ptr<Detector> detector;
  PredictContext ctx;
  std::thread loader, watchdog;
  std::vector<std::thread> workers;
  std::mutex load_mu;
  std::condition_variable load_cv;
  bool load_done = false;
  std::optional<Error> load_error;

  std::atomic<int> admitted{0}, running{0}, open_requests{0}, open_connections{0};
  std::mutex drain_mu;
  std::condition_variable drain_cv;

  std::mutex conns_mu;
  std::unordered_set<Connection*> conns;
  std::mutex pending_mu;
  std::unordered_set<RequestPtr> pending;  // enqueued, not answered yet

  std::mutex watchdog_mu;
  std::condition_variable watchdog_cv;
  bool watchdog_stop = false;

  // ---- MHD callbacks (static trampolines below) ----

  void* on_uri(const char* uri, MHD_Connection* c) {
    auto req = std::make_shared<Request>();
    req->start = Clock::now();
    req->deadline = req->start + options.timeout;
    req->uri = uri ? uri : "";
    open_requests.fetch_add(1);
    if (Connection* conn = connection_of(c)) {
      std::lock_guard lock(conns_mu);
      conn->phase = Phase::kHeaders;
      conn->deadline = std::min(conn->deadline, req->start + options.header_timeout);
    }
    return new RequestPtr(std::move(req));
  }

  MHD_Result on_access(MHD_Connection* c, const char* url, const char* method, const char* data, std::size_t* size,
                       void** con_cls) {
    if (*con_cls == nullptr) *con_cls = on_uri(url, c);  // not expected: MHD calls uri_log first
    const RequestPtr& req = *static_cast<RequestPtr*>(*con_cls);
    Request& r = *req;
    if (!r.headers_done) return on_headers(c, r, url, method);
    if (*size != 0) {
      const MHD_Result result = on_upload(r, data, *size);
      *size = 0;
      return result;
    }
    if (r.deferred) {
      Response response = std::move(*r.deferred);
      r.deferred.reset();
      return send(c, r, std::move(response));
    }
    {
      std::unique_lock lock(r.mu);
      if (r.answered) {  // resumed after a worker, the deadline or shutdown answered
        Response response = std::move(r.response);
        lock.unlock();
        return send(c, r, std::move(response));
      }
    }
    if (r.body_done) return MHD_NO;  // called again without an answer: cannot happen; close rather than hang
    r.body_done = true;
    return on_body_complete(c, req);
  }

  void on_completed(MHD_Connection* c, void** con_cls, MHD_RequestTerminationCode toe) {
    auto* holder = static_cast<RequestPtr*>(*con_cls);
    if (!holder) return;
    *con_cls = nullptr;
    const RequestPtr req = std::move(*holder);
    delete holder;
    Request& r = *req;
    const auto now = Clock::now();
    bool was_cut = false;
    if (Connection* conn = connection_of(c)) {
      std::lock_guard lock(conns_mu);
      was_cut = conn->cut;
      // Keep-alive: the next request's headers must come within idle + header timeouts.
      conn->phase = Phase::kHeaders;
      conn->deadline = now + options.idle_timeout + options.header_timeout;
    }
    if (r.headers_done) {
      int status = r.status;
      std::string outcome = "ok";
      if (status == 0 || toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) {
        if (status == 0) status = 499;
        if (was_cut) {
          outcome = "cut";  // counted by the watchdog (body_timeout)
        } else if (toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED) {
          outcome = "idle_timeout";
          metrics.reject("idle_timeout");
        } else if (r.admitted && !r.body_done) {
          outcome = "client_abort";  // went away mid-upload: the handler never ran
          metrics.reject("client_abort");
        } else {
          outcome = "send_failed";
        }
      }
      const std::string route = r.route ? r.route->path : "other";
      metrics.request(route, status, ms_between(r.start, now) / 1000);
      nlohmann::ordered_json line = {{"method", r.method},   {"path", r.path},
                                     {"status", status},     {"bytes_in", r.received},
                                     {"bytes", r.bytes_out}, {"ms", std::round(ms_between(r.start, now) * 10) / 10}};
      if (r.queue_ms >= 0) line["queue_ms"] = std::round(r.queue_ms * 10) / 10;
      if (r.infer_ms >= 0) line["infer_ms"] = std::round(r.infer_ms * 10) / 10;
      if (r.detections >= 0) line["detections"] = r.detections;
      if (!r.error.empty()) line["error"] = r.error;
      if (outcome != "ok") line["outcome"] = outcome;
      log_event("request", line);
    }
    if (r.admitted) {
      {
        std::lock_guard lock(drain_mu);
        admitted.fetch_sub(1);
      }
      drain_cv.notify_all();
    }
    open_requests.fetch_sub(1);
  }

  void on_connection(MHD_Connection* c, void** socket_context, MHD_ConnectionNotificationCode code) {
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
      auto* conn = new Connection;
      const MHD_ConnectionInfo* info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
      conn->fd = info ? info->connect_fd : -1;
      conn->deadline = Clock::now() + options.header_timeout;
      {
        std::lock_guard lock(conns_mu);
        conns.insert(conn);
      }
      open_connections.fetch_add(1);
      *socket_context = conn;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
      auto* conn = static_cast<Connection*>(*socket_context);
      if (!conn) return;
      {
        // MHD calls this before it closes the fd: once we are past this lock, the watchdog cannot shutdown() a
        // reused fd number.
        std::lock_guard lock(conns_mu);
        conns.erase(conn);
      }
      delete conn;
      *socket_context = nullptr;
      open_connections.fetch_sub(1);
    }
  }

  void on_mhd_log(const char* fmt, va_list ap) {
    char buf[512];
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    std::string message(buf);
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
    // MHD answers these itself, before our handler sees the request.
    if (message.find("response code is 431") != std::string::npos) metrics.reject("header_too_large");
    if (message.find("response code is 414") != std::string::npos) metrics.reject("uri_too_long");
    if (message.find("response code is 400") != std::string::npos) metrics.reject("bad_request");
    log_event("http", {{"message", message}});
  }

  // ---- request stages ----

  Connection* connection_of(MHD_Connection* c) {
    const MHD_ConnectionInfo* info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info ? static_cast<Connection*>(info->socket_context) : nullptr;
  }

  void set_phase(MHD_Connection* c, Phase phase, Clock::time_point deadline) {
    if (Connection* conn = connection_of(c)) {
      std::lock_guard lock(conns_mu);
      conn->phase = phase;
      conn->deadline = deadline;
    }
  }

  Response unavailable(const char* code, const std::string& message) {
    Response r = error_response(503, code, message);
    r.headers.emplace_back("Retry-After", std::to_string(options.retry_after_s));
    return r;
  }

  MHD_Result on_headers(MHD_Connection* c, Request& r, const char* url, const char* method) {
    r.headers_done = true;
    r.method = method ? method : "";
    r.path = url ? url : "";
    set_phase(c, Phase::kHandling, kNever);

    if (r.uri.size() > options.max_uri) {
      metrics.reject("uri_too_long");
      return answer(
          c, r,
          error_response(414, "uri_too_long",
                         "request target of " + std::to_string(r.uri.size()) + " bytes exceeds the limit of " +
                             std::to_string(options.max_uri) + " bytes (--max-uri)"));
    }
    r.route = find_route(r.path);
    if (!r.route) return answer(c, r, error_response(404, "not_found", "no such endpoint: " + r.path));
    const bool get = r.method == "GET" || r.method == "HEAD";
    if ((r.route->route == Route::kPredict) ? r.method != "POST" : !get) {
      Response resp = error_response(405, "method_not_allowed",
                                     r.method + " is not allowed on " + r.path + " (allowed: " + r.route->allow + ")");
      resp.headers.emplace_back("Allow", r.route->allow);
      return answer(c, r, std::move(resp));
    }
    const State s = state.load();
    switch (r.route->route) {
      case Route::kIndex: {
        Response resp;
        resp.content_type = "text/html; charset=utf-8";
        resp.body = std::string(index_html());
        resp.headers.emplace_back("Content-Security-Policy",
                                  "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                                  "img-src 'self' blob: data:; connect-src 'self'; form-action 'none'");
        return answer(c, r, std::move(resp));
      }
      case Route::kHealthz: {
        Response resp;
        resp.body = status_json("ok");
        return answer(c, r, std::move(resp));
      }
      case Route::kReadyz: {
        Response resp;
        resp.body = status_json(to_string(s));
        if (s != State::kReady) {
          resp.status = 503;
          resp.headers.emplace_back("Retry-After", std::to_string(options.retry_after_s));
        }
        return answer(c, r, std::move(resp));
      }
      case Route::kMetrics: {
        Response resp;
        resp.content_type = "text/plain; version=0.0.4; charset=utf-8";
        resp.body = metrics.render();
        return answer(c, r, std::move(resp));
      }
      case Route::kModel: {
        if (!ctx.detector || s == State::kLoading || s == State::kFailed) {
          return answer(c, r, unavailable("not_ready", "the model is not loaded yet"));
        }
        Response resp;
        resp.body = model_info_json(ctx, options);
        return answer(c, r, std::move(resp));
      }
      case Route::kPredict: return admit_predict(c, r, s);
      case Route::kNotFound: break;
    }
    return answer(c, r, error_response(404, "not_found", "no such endpoint: " + r.path));
  }

  MHD_Result admit_predict(MHD_Connection* c, Request& r, State s) {
    if (s == State::kLoading || s == State::kFailed) {
      metrics.reject("not_ready");
      return answer(c, r, unavailable("not_ready", "the model is still loading; retry shortly"));
    }
    if (s != State::kReady) {
      metrics.reject("shutting_down");
      return answer(c, r, unavailable("shutting_down", "the server is shutting down; retry on another replica"));
    }
    if (const char* cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
      const std::uint64_t length = std::strtoull(cl, nullptr, 10);
      if (length > options.max_body) {
        metrics.reject("body_too_large");
        return answer(c, r, too_large(length));
      }
      r.body.reserve(static_cast<std::size_t>(length));
    }
    // Refuse before reading the body when it could not be queued anyway.
    if (queue.full() || admitted.load() >= admission_cap) {
      metrics.reject("queue_full");
      return answer(c, r, unavailable("queue_full", "the server is at capacity; retry after the Retry-After delay"));
    }
    r.admitted = true;
    admitted.fetch_add(1);
    if (const char* ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE)) {
      r.content_type = ct;
    }
    set_phase(c, Phase::kBody, r.deadline);
    return MHD_YES;  // MHD sends 100 Continue if asked, then the body arrives in on_upload()
  }

  // An answer decided from the headers alone. MHD 0.9.75 treats a response queued in the headers call as an
  // "early" response and closes the connection after it; that is right when a body is on its way (we refuse to
  // read it: 413, 503), wasteful otherwise, so a request without a body gets its answer on the next call.
  MHD_Result answer(MHD_Connection* c, Request& r, Response resp) {
    const char* length = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const bool body_coming = (length && std::strtoull(length, nullptr, 10) > 0) ||
                             MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if (body_coming) return send(c, r, std::move(resp));
    r.deferred = std::move(resp);
    return MHD_YES;
  }

  Response too_large(std::uint64_t length) {
    return error_response(413, "body_too_large",
                          "request body of " + std::to_string(length) + " bytes exceeds the limit of " +
                              std::to_string(options.max_body) + " bytes (--max-body)");
  }

  MHD_Result on_upload(Request& r, const char* data, std::size_t size) {
    r.received += size;
    if (!r.body_over && r.received > options.max_body) {
      r.body_over = true;  // chunked body past the cap: drop what we have, count the rest, answer 413 at the end
      std::string().swap(r.body);
    }
    if (r.body_over) {
      // MHD 0.9.75 cannot answer in the middle of an upload; past twice the cap, stop reading and cut.
      if (r.received > 2 * options.max_body) {
        metrics.reject("body_too_large");
        log_event("cut", {{"path", r.path}, {"reason", "body_too_large"}, {"bytes_in", r.received}});
        return MHD_NO;
      }
      return MHD_YES;
    }
    r.body.append(data, size);
    return MHD_YES;
  }

  MHD_Result on_body_complete(MHD_Connection* c, const RequestPtr& req) {
    Request& r = *req;
    set_phase(c, Phase::kHandling, kNever);
    if (r.body_over) {
      metrics.reject("body_too_large");
      return send(c, r, too_large(r.received));
    }
    try {
      r.image = r.body;
      r.image_name = "upload";
      if (const auto boundary = multipart_boundary(r.content_type)) {
        FormPart part = find_form_part(r.body, *boundary, "file");
        r.image = part.data;
        if (!part.filename.empty()) r.image_name = std::move(part.filename);
      }
      r.query = parse_predict_query(
          [c](const char* key) { return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key); }, options);
    } catch (const Error& e) {
      metrics.reject("bad_request");
      return send(c, r, error_response(e));
    }
    if (Clock::now() >= r.deadline) {
      metrics.reject("deadline");
      return send(c, r, deadline_response());
    }

    // Suspend first, then enqueue: whoever answers (worker, deadline, shutdown) resumes a suspended connection.
    r.connection = c;
    if (const MHD_ConnectionInfo* info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD)) {
      r.fd = info->connect_fd;
    }
    {
      std::lock_guard lock(r.mu);
      r.suspended = true;
    }
    MHD_suspend_connection(c);
    r.enqueued = Clock::now();
    {
      std::lock_guard lock(pending_mu);
      pending.insert(req);
    }
    RequestPtr job = req;
    if (!queue.try_push(job)) {
      if (state.load() == State::kReady) {
        metrics.reject("queue_full");
        finish(req, unavailable("queue_full", "the server is at capacity; retry after the Retry-After delay"));
      } else {
        metrics.reject("shutting_down");
        finish(req, unavailable("shutting_down", "the server stopped before this request could run"));
      }
    }
    return MHD_YES;
  }

  Response deadline_response() {
    return error_response(504, "deadline_exceeded",
                          "the request did not finish within " + seconds_text(options.timeout) +
                              " (--timeout): the server is busy or the image is too large; retry later");
  }

  // Stores the answer and resumes the connection, once; later callers lose (their answer is dropped).
  bool complete(Request& r, Response response) {
    std::lock_guard lock(r.mu);
    if (r.answered) return false;
    r.answered = true;
    r.response = std::move(response);
    if (r.suspended) {
      r.suspended = false;
      MHD_resume_connection(r.connection);
    }
    return true;
  }

  bool finish(const RequestPtr& req, Response response) {
    const bool won = complete(*req, std::move(response));
    std::lock_guard lock(pending_mu);
    pending.erase(req);
    return won;
  }

  MHD_Result send(MHD_Connection* c, Request& r, Response resp) {
    r.status = resp.status;
    r.error = resp.error;
    r.detections = resp.detections;
    r.queue_ms = resp.queue_ms;
    r.infer_ms = resp.infer_ms;
    r.bytes_out = resp.body.size();
    auto* body = new std::string(std::move(resp.body));
    MHD_Response* m = MHD_create_response_from_buffer_with_free_callback_cls(
        body->size(), body->data(), [](void* p) { delete static_cast<std::string*>(p); }, body);
    if (!m) {
      delete body;
      return MHD_NO;
    }
    MHD_add_response_header(m, MHD_HTTP_HEADER_CONTENT_TYPE, resp.content_type.c_str());
    MHD_add_response_header(m, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(m, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    for (const auto& [name, value] : resp.headers) MHD_add_response_header(m, name.c_str(), value.c_str());
    if (state.load() != State::kReady && state.load() != State::kLoading) {
      MHD_add_response_header(m, MHD_HTTP_HEADER_CONNECTION, "close");  // draining: let clients reconnect elsewhere
    }
    const MHD_Result q = MHD_queue_response(c, static_cast<unsigned>(resp.status), m);
    MHD_destroy_response(m);
    return q;
  }

  // ---- threads ----

  void worker_loop() {
    while (std::optional<RequestPtr> job = queue.pop()) {
      const RequestPtr& req = *job;
      Request& r = *req;
      // Only `answered` may be read here without the lock's help: the timings travel in the Response, which the
      // MHD thread reads after complete() (a 504 may already be on its way while this worker still runs).
      const auto picked = Clock::now();
      const double queue_ms = ms_between(r.enqueued, picked);
      metrics.queue_wait(queue_ms / 1000);
      bool gone = false;
      {
        std::lock_guard lock(r.mu);
        if (r.answered) continue;  // the deadline or shutdown answered it while queued
        gone = client_gone(r.fd);  // under the lock: not answered means still suspended, so the fd is ours
      }
      if (gone) {  // the client hung up while queued (it timed out, or retried elsewhere): do not run the model
        metrics.reject("client_gone");
        finish(req, error_response(499, "client_gone", "the client closed the connection before its turn"));
        continue;
      }
      if (picked >= r.deadline) {
        metrics.reject("deadline");
        finish(req, deadline_response());
        continue;
      }
      running.fetch_add(1);
      PredictStats stats;
      Response response = predict(ctx, std::span(reinterpret_cast<const std::uint8_t*>(r.image.data()), r.image.size()),
                                  r.image_name, r.query, stats);
      running.fetch_sub(1);
      const auto done = Clock::now();
      response.queue_ms = queue_ms;
      response.infer_ms = ms_between(picked, done);
      metrics.inference(response.infer_ms / 1000);
      if (stats.decoded) metrics.image_decoded();
      if (stats.rejected) metrics.image_rejected();
      finish(req, std::move(response));
    }
  }

  void watchdog_loop() {
    std::unique_lock lock(watchdog_mu);
    while (!watchdog_cv.wait_for(lock, std::chrono::milliseconds(50), [&] { return watchdog_stop; })) {
      const auto now = Clock::now();
      int header_cuts = 0, body_cuts = 0;
      {
        std::lock_guard conns_lock(conns_mu);
        std::vector<int> fds;
        for (Connection* conn : conns) {
          if (conn->cut || conn->phase == Phase::kHandling || now < conn->deadline || conn->fd < 0) continue;
          conn->cut = true;
          (conn->phase == Phase::kBody ? body_cuts : header_cuts)++;
          fds.push_back(conn->fd);
        }
        // Counted before the cut, so a client that sees the EOF also sees the metric.
        for (int i = 0; i < header_cuts; ++i) metrics.reject("header_timeout");
        for (int i = 0; i < body_cuts; ++i) metrics.reject("body_timeout");
        for (int fd : fds) ::shutdown(fd, SHUT_RDWR);  // MHD sees EOF and closes the connection on its own thread
      }
      if (header_cuts + body_cuts > 0) {
        log_event("cut", {{"header_timeout", header_cuts}, {"body_timeout", body_cuts}});
      }
      std::vector<RequestPtr> expired;
      {
        std::lock_guard pending_lock(pending_mu);
        for (const RequestPtr& req : pending) {
          if (now >= req->deadline) expired.push_back(req);
        }
      }
      for (const RequestPtr& req : expired) {
        if (finish(req, deadline_response())) metrics.reject("deadline");
      }
    }
  }

  void load_model() {
    try {
      const auto t0 = Clock::now();
      DetectorOptions d;
      d.engine = parse_engine(options.engine);
      d.provider = parse_provider(options.provider);
      d.precision = parse_precision(options.precision);
      d.concurrent_runs = options.workers;
      const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
      d.intra_op_threads = intra_op_threads(options, cores);
      d.inter_op_threads = 1;
      d.colormap = options.colormap;
      auto det = std::make_unique<Detector>(options.model, d);
      const auto t1 = Clock::now();
      // Warm-up: the first run allocates and plans; readiness means a request will not pay for it.
      Image warm(64, 48);
      PredictOptions p;
      p.threshold = options.threshold;
      p.size = options.size;
      p.divisor = options.divisor;
      det->predict(warm, p);
      const auto t2 = Clock::now();
      ctx.detector = det.get();
      const std::string det_engine = det->load_report().engine_description;
      ctx.model_name = options.model.filename().string();
      ctx.max_pixels = options.max_pixels;
      ctx.divisor = options.divisor;
      detector = std::move(det);
      for (int i = 0; i < options.workers; ++i) workers.emplace_back([this] { worker_loop(); });
      State expected = State::kLoading;
      state.compare_exchange_strong(expected, State::kReady);
      log_event("ready", {{"model", options.model.string()},
                          {"keypoints", detector->keypoints().size()},
                          {"load_ms", std::round(ms_between(t0, t1))},
                          {"warmup_ms", std::round(ms_between(t1, t2))},
                          {"workers", options.workers},
                          {"threads_per_worker", d.intra_op_threads},
                          {"engine", det_engine},
                          {"queue", queue.capacity()},
                          {"onnxruntime", onnxruntime_version()}});
    } catch (const Error& e) {
      fail_load(e);
    } catch (const std::exception& e) {
      fail_load(Error(ErrorCode::kInternal, std::string("internal error while loading the model: ") + e.what()));
    }
    {
      std::lock_guard lock(load_mu);
      load_done = true;
    }
    load_cv.notify_all();
  }

  void fail_load(const Error& e) {
    {
      std::lock_guard lock(load_mu);
      load_error = e;
    }
    state.store(State::kFailed);
    log_event("model_load_failed",
              {{"model", options.model.string()}, {"code", to_string(e.code())}, {"message", e.what()}});
  }

  // ---- C trampolines: no exception may unwind through MHD's frames ----

  static void* uri_cb(void* cls, const char* uri, MHD_Connection* c) {
    try {
      return static_cast<Impl*>(cls)->on_uri(uri, c);
    } catch (...) {
      return nullptr;
    }
  }
  static MHD_Result access_cb(void* cls, MHD_Connection* c, const char* url, const char* method, const char*,
                              const char* data, std::size_t* size, void** con_cls) {
    try {
      return static_cast<Impl*>(cls)->on_access(c, url, method, data, size, con_cls);
    } catch (const std::exception& e) {
      log_event("handler_error", {{"message", e.what()}});
      return MHD_NO;  // closes the connection
    }
  }
  static void completed_cb(void* cls, MHD_Connection* c, void** con_cls, MHD_RequestTerminationCode toe) {
    try {
      static_cast<Impl*>(cls)->on_completed(c, con_cls, toe);
    } catch (...) {
    }
  }
  static void connection_cb(void* cls, MHD_Connection* c, void** socket_context, MHD_ConnectionNotificationCode code) {
    try {
      static_cast<Impl*>(cls)->on_connection(c, socket_context, code);
    } catch (...) {
    }
  }
  static void log_cb(void* cls, const char* fmt, va_list ap) {
    try {
      static_cast<Impl*>(cls)->on_mhd_log(fmt, ap);
    } catch (...) {
    }
  }

  void register_gauges() {
    metrics.add_gauge("kprcnn_queue_depth", "Predict requests waiting for a worker.",
                      [this] { return static_cast<double>(queue.size()); });
    metrics.add_gauge("kprcnn_queue_capacity", "Capacity of the predict queue (--queue).",
                      [this] { return static_cast<double>(queue.capacity()); });
    metrics.add_gauge("kprcnn_inference_in_progress", "Predict requests running on a worker.",
                      [this] { return static_cast<double>(running.load()); });
    metrics.add_gauge("kprcnn_predict_in_flight", "Predict requests admitted and not finished (upload to answer).",
                      [this] { return static_cast<double>(admitted.load()); });
    metrics.add_gauge("kprcnn_http_requests_in_flight", "HTTP requests started and not finished (any route).",
                      [this] { return static_cast<double>(open_requests.load()); });
    metrics.add_gauge("kprcnn_http_connections", "Open client connections.",
                      [this] { return static_cast<double>(open_connections.load()); });
    metrics.add_gauge("kprcnn_workers", "Inference workers (--workers).",
                      [this] { return static_cast<double>(options.workers); });
    metrics.add_gauge("kprcnn_ready", "1 when /readyz answers 200.",
                      [this] { return state.load() == State::kReady ? 1.0 : 0.0; });
    metrics.add_gauge("kprcnn_draining", "1 once shutdown has started.", [this] {
      const State s = state.load();
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
  s.listen_fd = make_listen_socket(o.host, o.port, s.bound_port);
  const unsigned idle_s =
      static_cast<unsigned>(std::max<std::int64_t>(1, (o.idle_timeout.count() + 999) / 1000));  // MHD: whole seconds
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
  MHD_OptionItem pool[] = {
      {o.io_threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, static_cast<intptr_t>(o.io_threads), nullptr},
      {MHD_OPTION_END, 0, nullptr}};
  // The logger goes first, so that every MHD message (options included) goes through it.
  s.daemon = MHD_start_daemon(flags, 0, nullptr, nullptr, &Impl::access_cb, &s,                                  //
                              MHD_OPTION_EXTERNAL_LOGGER, &Impl::log_cb, &s,                                     //
                              MHD_OPTION_LISTEN_SOCKET, static_cast<MHD_socket>(s.listen_fd),                    //
                              MHD_OPTION_CONNECTION_LIMIT, static_cast<unsigned>(o.max_connections),             //
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, static_cast<std::size_t>(o.max_header_bytes),  //
                              MHD_OPTION_CONNECTION_TIMEOUT, idle_s,                                             //
                              MHD_OPTION_URI_LOG_CALLBACK, &Impl::uri_cb, &s,                                    //
                              MHD_OPTION_NOTIFY_COMPLETED, &Impl::completed_cb, &s,                              //
                              MHD_OPTION_NOTIFY_CONNECTION, &Impl::connection_cb, &s,                            //
                              MHD_OPTION_ARRAY, pool,                                                            //
                              MHD_OPTION_END);
  if (!s.daemon) {
    ::close(s.listen_fd);
    s.listen_fd = -1;
    throw Error(ErrorCode::kIo, "cannot start the HTTP server on " + o.host + ":" + std::to_string(s.bound_port) +
                                    " (libmicrohttpd refused the options; see the log above)");
  }
  s.watchdog = std::thread([&s] { s.watchdog_loop(); });
  log_event("listening", {{"url", "http://" + (o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host) +
                                      ":" + std::to_string(s.bound_port) + "/"},
                          {"port", s.bound_port},
                          {"max_body", o.max_body},
                          {"timeout_ms", o.timeout.count()},
                          {"header_timeout_ms", o.header_timeout.count()},
                          {"drain_ms", o.drain.count()},
                          {"http", MHD_get_version()}});
  s.loader = std::thread([&s] { s.load_model(); });
}

int Server::port() const {
  return impl_->bound_port;
}
State Server::state() const {
  return impl_->state.load();
}

State Server::wait_loaded(Milliseconds timeout) {
  std::unique_lock lock(impl_->load_mu);
  impl_->load_cv.wait_for(lock, timeout, [&] { return impl_->load_done; });
  return impl_->state.load();
}

void Server::rethrow_load_error() const {
  std::lock_guard lock(impl_->load_mu);
  if (impl_->load_error) throw *impl_->load_error;
}

void Server::begin_drain() {
  State s = impl_->state.load();
  while ((s == State::kReady || s == State::kLoading) && !impl_->state.compare_exchange_weak(s, State::kDraining)) {
  }
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
  // Answer what is still queued or running (503), so no connection stays suspended when MHD stops.
  std::vector<RequestPtr> left;
  {
    std::lock_guard lock(s.pending_mu);
    left.assign(s.pending.begin(), s.pending.end());
  }
  for (const RequestPtr& req : left) {
    if (s.finish(req, s.unavailable("shutting_down", "the server stopped before this request finished"))) {
      s.metrics.reject("shutting_down");
    }
  }
  s.queue.close();
  if (!left.empty()) wait_drained(Milliseconds(1000));  // let MHD write those answers
  if (s.daemon) {
    MHD_stop_daemon(s.daemon);  // closes every connection and the listening socket
    s.daemon = nullptr;
    s.listen_fd = -1;
  }
  if (s.listen_fd >= 0) ::close(s.listen_fd);
  {
    std::lock_guard lock(s.watchdog_mu);
    s.watchdog_stop = true;
  }
  s.watchdog_cv.notify_all();
  if (s.watchdog.joinable()) s.watchdog.join();
  if (s.loader.joinable()) s.loader.join();  // a model load cannot be interrupted: wait for it
  for (auto& w : s.workers) {
    if (w.joinable()) w.join();  // a run in progress finishes; its answer is dropped
  }
  if (s.state.load() != State::kFailed) s.state.store(State::kStopped);
}

}  // namespace kprcnn::server

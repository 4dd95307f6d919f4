// The HTTP adapter on GNU libmicrohttpd (MHD).
//
// Why libmicrohttpd (Debian 12: libmicrohttpd-dev 0.9.75-6):
//  - cpp-httplib (Debian 12: 0.11.4+ds-1+deb12u1) has had chunked-body memory-exhaustion CVEs fixed upstream in
//    0.20.1, 0.23.0 and 0.43.4. Debian's changelog for the packaged build lists one backport only (CVE-2023-26130,
//    CRLF injection); the chunked-body fixes are not in it. Its thread pool also drops connections when full.
//  - libmicrohttpd 0.9.75-6 carries the fix for CVE-2023-27371 (MHD_PostProcessor parser crash; the Debian
//    changelog names it), and we do not use MHD_PostProcessor at all: multipart is parsed by the handlers, over a
//    body already capped by --max-body. It is a mature C library (GNU, used by systemd-journal-remote) with
//    per-connection memory limits (→ 431/414 from MHD itself), idle timeouts, incremental upload callbacks (the
//    body cap answers 413 from Content-Length before any body byte is read; a chunked body is counted, never
//    buffered past the cap) and suspend/resume, so a fixed pool of inference workers can answer asynchronously.
//  - Boost.Beast would do too, at several times the compile cost and with far more code of ours in the HTTP path.
// What MHD 0.9.75 does not do and we add here: a header deadline (slowloris: MHD's timeout is an idle timeout that
// a trickling client keeps resetting) and a body deadline, enforced by the watchdog with shutdown(2) on the socket
// (MHD reports a connection closed before it close(2)s the fd, and we hold the same lock, so the fd cannot have
// been reused).
//
// Request flow (MHD calls the access handler several times per request):
//   request line  → on_uri(): a Request is created (start time, deadline)
//   headers done  → handler.on_headers(): answered now (413/414/404/405/503 ...), or the body is read
//   body chunks   → on_upload(): appended up to --max-body, counted (and dropped) beyond it
//   body done     → handler.on_body(): answered now, or the connection is suspended until a Reply comes
//   resumed       → the access handler sends the stored Response
//   completed     → handler.on_finished(): metrics, one log line
#include "http_adapter.h"

#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdarg>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

#include "kprcnn/error.h"
#include "listen_socket.h"
#include "log.h"

namespace kprcnn::server {
namespace {

constexpr Clock::time_point kNever = Clock::time_point::max();

// The watchdog's view of one TCP connection (MHD's socket context).
enum class Phase {
  kHeaders,   // waiting for a request line and headers: header deadline
  kBody,      // receiving a body: the request deadline
  kHandling,  // answered or being answered (a suspended request is watched by the scheduler's deadline)
};
struct Connection {
  int fd = -1;
  Phase phase = Phase::kHeaders;
  Clock::time_point deadline = kNever;
  bool cut = false;
};

// True when the peer has closed its side (EOF or a socket error); false while it is connected (even if it sent
// more, e.g. a pipelined request: MSG_PEEK leaves it for MHD).
bool peer_closed(int fd) {
  if (fd < 0) return false;
  char byte;
  const ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

// The answer of a suspended connection: exactly one of its callers (worker, deadline, shutdown) stores it and
// resumes the connection; the access handler then sends it. Created before the handler sees the body, so an
// answer that comes before the connection is suspended is simply stored (and sent without suspending).
class Reply final : public Responder {
 public:
  Reply(MHD_Connection* c, int fd) : connection_(c), fd_(fd) {}

  bool respond(Response response) override {
    std::lock_guard lock(mu_);
    if (answered_) return false;
    answered_ = true;
    response_ = std::move(response);
    if (suspended_) {
      suspended_ = false;
      MHD_resume_connection(connection_);
    }
    return true;
  }
  bool answered() override {
    std::lock_guard lock(mu_);
    return answered_;
  }
  bool client_gone() override {
    std::lock_guard lock(mu_);
    // Not answered means not resumed (or not yet suspended): MHD has not closed the connection, the fd is ours.
    return !answered_ && peer_closed(fd_);
  }

  // The access handler, after on_body() handed the reply on: the stored answer, or suspend until there is one.
  std::optional<Response> take_or_suspend() {
    std::lock_guard lock(mu_);
    if (answered_) return std::move(response_);
    suspended_ = true;
    MHD_suspend_connection(connection_);
    return std::nullopt;
  }
  // After a resume: the answer (only called once answered).
  std::optional<Response> take() {
    std::lock_guard lock(mu_);
    if (!answered_) return std::nullopt;
    return std::move(response_);
  }

 private:
  std::mutex mu_;
  MHD_Connection* const connection_;
  const int fd_;
  bool suspended_ = false, answered_ = false;
  Response response_;
};

// One HTTP request (MHD's con_cls).
struct Request {
  HttpRequest http;
  bool headers_done = false, body_requested = false, body_done = false;
  std::optional<Response> deferred;  // decided at the headers, sent on the next call (keeps the connection alive)
  std::shared_ptr<Reply> reply;      // set when the body is complete
  Exchange exchange;
};

}  // namespace

struct HttpAdapter::Impl {
  Impl(const ServerOptions& o, HttpHandler& h, Metrics& m) : options(o), handler(h), metrics(m) {}

  const ServerOptions& options;
  HttpHandler& handler;
  Metrics& metrics;

  int listen_fd = -1;
  int bound_port = 0;
  MHD_Daemon* daemon = nullptr;
  std::atomic<int> open_requests{0}, open_connections{0};

  std::mutex conns_mu;
  std::unordered_set<Connection*> conns;

  std::thread watchdog;
  std::mutex watchdog_mu;
  std::condition_variable watchdog_cv;
  bool watchdog_stop = false;

  // ---- MHD callbacks (static trampolines below) ----

  void* on_uri(const char* uri, MHD_Connection* c) {
    auto* req = new Request;
    req->http.start = Clock::now();
    req->http.deadline = req->http.start + options.timeout;
    req->http.uri = uri ? uri : "";
    open_requests.fetch_add(1);
    if (Connection* conn = connection_of(c)) {
      std::lock_guard lock(conns_mu);
      conn->phase = Phase::kHeaders;
      conn->deadline = std::min(conn->deadline, req->http.start + options.header_timeout);
    }
    return req;
  }

  MHD_Result on_access(MHD_Connection* c, const char* url, const char* method, const char* data, std::size_t* size,
                       void** con_cls) {
    if (*con_cls == nullptr) *con_cls = on_uri(url, c);  // not expected: MHD calls uri_log first
    Request& r = *static_cast<Request*>(*con_cls);
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
    if (r.reply) {  // resumed after a worker, the deadline or shutdown answered
      if (std::optional<Response> response = r.reply->take()) return send(c, r, std::move(*response));
      return MHD_NO;  // resumed without an answer: cannot happen; close rather than hang
    }
    if (r.body_done || !r.body_requested) return MHD_NO;
    r.body_done = true;
    return on_body_complete(c, r);
  }

  MHD_Result on_headers(MHD_Connection* c, Request& r, const char* url, const char* method) {
    r.headers_done = true;
    HttpRequest& h = r.http;
    h.method = method ? method : "";
    h.path = url ? url : "";
    set_phase(c, Phase::kHandling, kNever);
    MHD_get_connection_values(
        c, MHD_GET_ARGUMENT_KIND,
        [](void* cls, MHD_ValueKind, const char* key, const char* value) -> MHD_Result {
          static_cast<HttpRequest*>(cls)->query.emplace_back(key ? key : "",
                                                             value ? std::optional<std::string>(value) : std::nullopt);
          return MHD_YES;
        },
        &h);
    const char* length = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (length) h.content_length = std::strtoull(length, nullptr, 10);
    h.body_expected = (h.content_length && *h.content_length > 0) ||
                      MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if (const char* ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE)) {
      h.content_type = ct;
    }

    if (std::optional<Response> answer = handler.on_headers(h)) {
      // MHD 0.9.75 treats a response queued in the headers call as an "early" response and closes the connection
      // after it; that is right when a body is on its way (we refuse to read it: 413, 503), wasteful otherwise, so
      // a request without a body gets its answer on the next call.
      if (h.body_expected) return send(c, r, std::move(*answer));
      r.deferred = std::move(answer);
      return MHD_YES;
    }
    r.body_requested = true;
    if (h.content_length && *h.content_length <= options.max_body) {
      h.body.reserve(static_cast<std::size_t>(*h.content_length));
    }
    set_phase(c, Phase::kBody, h.deadline);
    return MHD_YES;  // MHD sends 100 Continue if asked, then the body arrives in on_upload()
  }

  MHD_Result on_upload(Request& r, const char* data, std::size_t size) {
    HttpRequest& h = r.http;
    h.received += size;
    if (!h.body_too_large && h.received > options.max_body) {
      h.body_too_large = true;  // chunked body past the cap: drop what we have, count the rest, answer 413 at the end
      std::string().swap(h.body);
    }
    if (h.body_too_large) {
      // MHD 0.9.75 cannot answer in the middle of an upload; past twice the cap, stop reading and cut.
      if (h.received > 2 * options.max_body) {
        metrics.reject("body_too_large");
        log_event("cut", {{"path", h.path}, {"reason", "body_too_large"}, {"bytes_in", h.received}});
        return MHD_NO;
      }
      return MHD_YES;
    }
    h.body.append(data, size);
    return MHD_YES;
  }

  MHD_Result on_body_complete(MHD_Connection* c, Request& r) {
    set_phase(c, Phase::kHandling, kNever);
    int fd = -1;
    if (const MHD_ConnectionInfo* info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD)) {
      fd = info->connect_fd;
    }
    auto reply = std::make_shared<Reply>(c, fd);
    if (std::optional<Response> answer = handler.on_body(r.http, reply)) return send(c, r, std::move(*answer));
    r.reply = reply;
    if (std::optional<Response> answer = reply->take_or_suspend()) return send(c, r, std::move(*answer));
    return MHD_YES;  // suspended: Reply::respond() resumes, and on_access() sends
  }

  MHD_Result send(MHD_Connection* c, Request& r, Response resp) {
    Exchange& e = r.exchange;
    e.status = resp.status;
    e.error = resp.error;
    e.detections = resp.detections;
    e.queue_ms = resp.queue_ms;
    e.infer_ms = resp.infer_ms;
    e.bytes_out = resp.body.size();
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
    if (handler.closing()) MHD_add_response_header(m, MHD_HTTP_HEADER_CONNECTION, "close");
    const MHD_Result q = MHD_queue_response(c, static_cast<unsigned>(resp.status), m);
    MHD_destroy_response(m);
    return q;
  }

  void on_completed(MHD_Connection* c, void** con_cls, MHD_RequestTerminationCode toe) {
    std::unique_ptr<Request> req(static_cast<Request*>(*con_cls));
    if (!req) return;
    *con_cls = nullptr;
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
      Exchange& e = r.exchange;
      if (e.status == 0 || toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) {
        if (e.status == 0) e.status = 499;
        if (was_cut) {
          e.outcome = "cut";  // counted by the watchdog (body_timeout)
        } else if (toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED) {
          e.outcome = "idle_timeout";
          metrics.reject("idle_timeout");
        } else if (r.body_requested && !r.body_done) {
          e.outcome = "client_abort";  // went away mid-upload: the handler never ran
          metrics.reject("client_abort");
        } else {
          e.outcome = "send_failed";
        }
      }
      handler.on_finished(r.http, e);
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

  // Header and body deadlines: MHD has only an idle timeout, which a trickling client keeps resetting.
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
    }
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
};

HttpAdapter::HttpAdapter(const ServerOptions& options, HttpHandler& handler, Metrics& metrics)
    : impl_(std::make_unique<Impl>(options, handler, metrics)) {}

HttpAdapter::~HttpAdapter() {
  stop();
}

void HttpAdapter::start() {
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
}

int HttpAdapter::port() const {
  return impl_->bound_port;
}
int HttpAdapter::open_requests() const {
  return impl_->open_requests.load();
}
int HttpAdapter::open_connections() const {
  return impl_->open_connections.load();
}

void HttpAdapter::stop() {
  Impl& s = *impl_;
  if (s.daemon) {
    MHD_stop_daemon(s.daemon);  // closes every connection and the listening socket
    s.daemon = nullptr;
    s.listen_fd = -1;
  }
  if (s.listen_fd >= 0) {
    ::close(s.listen_fd);
    s.listen_fd = -1;
  }
  {
    std::lock_guard lock(s.watchdog_mu);
    s.watchdog_stop = true;
  }
  s.watchdog_cv.notify_all();
  if (s.watchdog.joinable()) s.watchdog.join();
}

const char* HttpAdapter::library_version() {
  return MHD_get_version();
}

}  // namespace kprcnn::server

// The HTTP side of the server, on GNU libmicrohttpd (MHD): the only code that includes <microhttpd.h>. It accepts
// connections, reads request lines, headers and bodies (up to --max-body), enforces the header and body deadlines,
// suspends a connection whose answer comes later and sends what the handler answers. What to answer is the
// HttpHandler's business (server.cpp): it sees HttpRequest and returns Response values, never an MHD type.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "http_types.h"
#include "metrics.h"
#include "options.h"

namespace kprcnn::server {

// How an exchange ended, for the handler's log line and metrics.
struct Exchange {
  int status = 0;  // what was sent; 499 when nothing was (client gone, cut, idle timeout)
  std::size_t bytes_out = 0;
  std::string error;  // Response::error of what was sent
  int detections = -1;
  double queue_ms = -1, infer_ms = -1;
  const char* outcome = "ok";  // ok, cut, idle_timeout, client_abort, send_failed
};

class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  // The request line and headers arrived. An answer now (a body on its way is never read: the connection closes
  // after the answer), or nullopt: read the body (within the request deadline), then on_body().
  virtual std::optional<Response> on_headers(HttpRequest& request) = 0;
  // The whole body arrived (or it was over --max-body: request.body_too_large). An answer now, or nullopt once
  // `later` has been handed on: the connection then waits, suspended, for later->respond() from any thread (it may
  // come before on_body() returns).
  virtual std::optional<Response> on_body(HttpRequest& request, const std::shared_ptr<Responder>& later) = 0;
  // The exchange ended; once per request that reached on_headers(). The request is destroyed after it.
  virtual void on_finished(const HttpRequest& request, const Exchange& exchange) = 0;
  // True when answers should close their connection (draining: clients reconnect elsewhere).
  virtual bool closing() const = 0;
};

class HttpAdapter {
 public:
  // `handler` and `metrics` must outlive the adapter.
  HttpAdapter(const ServerOptions& options, HttpHandler& handler, Metrics& metrics);
  ~HttpAdapter();  // stop()
  HttpAdapter(const HttpAdapter&) = delete;
  HttpAdapter& operator=(const HttpAdapter&) = delete;

  // Binds and listens (kprcnn::Error kIo when it cannot), starts MHD's threads and the connection watchdog.
  void start();
  int port() const;
  int open_requests() const;     // HTTP requests started and not finished (any route)
  int open_connections() const;  // client connections
  // Closes every connection and the listening socket, joins the threads. Idempotent.
  void stop();

  static const char* library_version();  // "0.9.75"

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kprcnn::server

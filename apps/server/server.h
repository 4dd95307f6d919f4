// kprcnn HTTP inference server: a static library (this header) under the thin `kprcnn serve` command.
//
// Endpoints: POST /v1/predict (image bytes or multipart field "file"; ?threshold= ?size= ?annotate=png|jpeg
// ?boxes=1), GET /v1/model, GET /healthz, GET /readyz, GET /metrics (Prometheus text), GET / (the web page).
//
// Ownership and threads: a Server owns its HTTP adapter (listening socket, the HTTP library's I/O threads and a
// connection watchdog; http_adapter.h), its scheduler (the bounded queue, a fixed pool of inference workers sharing
// one Detector, a deadline watchdog; scheduler.h) and its model host (the loader thread, the state; model_host.h).
// It is neither copyable nor movable. All methods are meant to be called from one controlling thread (serve() is that
// thread for the CLI). No HTTP-library type appears here.
#pragma once

#include <memory>

#include "options.h"
#include "state.h"

namespace kprcnn::server {

class Server {
 public:
  // Throws kprcnn::Error(kInvalidArgument) for invalid options.
  explicit Server(ServerOptions options);
  ~Server();  // stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens (kprcnn::Error kIo when the address cannot be bound), starts the HTTP threads, and loads and
  // warms up the model in the background. Returns as soon as the socket listens.
  void start();
  int port() const;  // the bound port (useful with port 0)
  State state() const;

  // Loading finished (ready) or failed, or `timeout` passed: the state at that moment.
  State wait_loaded(Milliseconds timeout);
  // Throws the model-load error (a kprcnn::Error: kIo, kModelLoad, kModelContract, kColormap ...) if loading failed.
  void rethrow_load_error() const;

  // Shutdown step 1: /readyz fails from now on; new predict requests get 503; admitted ones continue.
  void begin_drain();
  // Predict requests admitted and not yet answered (uploading, queued, running or being sent).
  int in_flight() const;
  // Step 2: wait until in_flight() is 0 or `timeout` passed; returns in_flight() then.
  int wait_drained(Milliseconds timeout);
  // Step 3: answer whatever is left with 503, close every connection, join all threads. Idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// `kprcnn serve`: start, wait for SIGTERM/SIGINT, drain for options.drain, stop; returns 0. A model that cannot be
// loaded is rethrown as its kprcnn::Error after the listener is closed (the server never reported ready), so the
// CLI maps it to its exit code. Blocks SIGINT/SIGTERM in the calling thread (and the threads it starts) and waits
// for them with sigtimedwait; a second signal during the drain stops at once.
int serve(const ServerOptions& options);

}  // namespace kprcnn::server

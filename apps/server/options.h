// Server options and the small parsers behind them (durations, byte sizes, pixel counts, the predict query).
// Pure functions, no I/O: unit-tested in tests/server/test_options.cpp.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "kprcnn/options.h"

namespace kprcnn::server {

using Milliseconds = std::chrono::milliseconds;

struct ServerOptions {
  std::filesystem::path model;     // exported .onnx (required)
  std::string host = "127.0.0.1";  // address to bind (IPv4 or IPv6 literal, or a name)
  int port = 8080;                 // 0: any free port (the "listening" log line says which)

  // The library's option table (kprcnn/options.h), as `kprcnn predict` has it: the detector options (engine,
  // provider, precision, threads per run, colormap, the model cache, ...) and the defaults of the predict query
  // (threshold, size, divisor, fast_decode, boxes, radius: a request's ?name= overrides them). The model cache is on
  // (default_model_cache_dir()): a restart skips ONNX Runtime's optimisation pass or OpenVINO's compilation.
  Options options = default_options();
  // Inference: `workers` threads share one loaded model (DetectorOptions::concurrent_runs); each run uses
  // options.detector.intra_op_threads threads (0: hardware cores / workers, at least 1), so the workers split the
  // cores instead of fighting over them. On OpenVINO the model gets `workers` streams (THROUGHPUT hint when > 1).
  int workers = 1;
  int queue = 0;  // bounded queue in front of the workers; full → 503 + Retry-After. 0: 4 x workers
  int io_threads = 2;

  // Hard limits (fault rows 10–13).
  std::uint64_t max_body = 32ull << 20;     // request body bytes → 413
  std::uint64_t max_pixels = 40'000'000;    // decoded image pixels (checked from the header) → 413
  std::size_t max_header_bytes = 32 << 10;  // request line + headers (the connection's memory pool) → 431
  std::size_t max_uri = 8 << 10;            // request target bytes → 414
  int max_connections = 1000;               // open sockets; beyond this new connections are refused
  Milliseconds timeout{30'000};             // per-request deadline from the request line to the answer → 504
  Milliseconds header_timeout{10'000};      // request line + headers must arrive within this (slowloris)
  Milliseconds idle_timeout{30'000};        // a connection with no traffic at all for this long is closed
  Milliseconds drain{30'000};               // SIGTERM/SIGINT: time left to in-flight requests
  int retry_after_s = 1;                    // Retry-After on 503
};

// Throws kprcnn::Error(kInvalidArgument) naming the option and the accepted range.
void validate(const ServerOptions& options);
// The queue capacity in effect (options.queue, or 4 x workers when 0).
int queue_capacity(const ServerOptions& options);
// Intra-op threads per run in effect, for `cores` hardware threads.
int intra_op_threads(const ServerOptions& options, unsigned cores);

// "250ms", "30s", "1.5s", "2m", "1h" or a bare number of seconds ("30"). Throws kInvalidArgument.
Milliseconds parse_duration(std::string_view text);
// "32MiB", "512KiB", "1GiB", "32M" / "32m" (binary too), "1000000" bytes, "5MB" (decimal). Throws kInvalidArgument.
std::uint64_t parse_bytes(std::string_view text);
// A count with an optional decimal suffix: "40M" = 40,000,000, "500K", "1.5G", "123456". Throws kInvalidArgument.
std::uint64_t parse_count(std::string_view text);

// ?annotate=png|jpeg answers the annotated image instead of JSON.
enum class Annotate { kNone, kPng, kJpeg };

struct PredictQuery {
  Options options;  // the server's options with the request's ?threshold= etc. applied
  Annotate annotate = Annotate::kNone;
};

// Reads the option table's predict and draw options (?threshold=, ?size=, ?divisor=, ?fast_decode=, ?boxes=,
// ?radius=: the same names, values and checks as the CLI's flags) and annotate (png|jpeg|jpg) through `lookup`
// (returns nullptr when a key is absent); defaults come from `options`. A bare ?boxes means yes. Throws
// kInvalidArgument naming the parameter, the value and what is accepted.
PredictQuery parse_predict_query(const std::function<const char*(const char*)>& lookup, const ServerOptions& options);

}  // namespace kprcnn::server

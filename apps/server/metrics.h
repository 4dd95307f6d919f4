// Prometheus metrics of the server, rendered in the text exposition format (version 0.0.4).
//
// Thread-safe: every method may be called from any thread (one mutex; the server's hot path takes it a few times
// per request, which is nothing next to an inference). Gauges that mirror live state (queue depth, in-flight) are
// read at render time through callbacks.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace kprcnn::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);
  // Appends `<name>_bucket{labels,le=..}`, `_sum` and `_count` lines. `labels` is `key="v",...` or empty.
  void render(std::string& out, const std::string& name, const std::string& labels) const;
  std::uint64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<std::uint64_t> buckets_;  // non-cumulative; rendered cumulative
  std::uint64_t count_ = 0;
  double sum_ = 0;
};

class Metrics {
 public:
  Metrics();

  // One finished HTTP request: `route` is a fixed route name ("/v1/predict", ..., "other"), `status` the answer
  // sent (499 when the client went away or was cut before an answer), `seconds` from request line to completion.
  void request(const std::string& route, int status, double seconds);
  void reject(const std::string& reason);  // queue_full, body_too_large, header_timeout, deadline, ...
  void inference(double seconds);          // decode + predict + encode, on a worker
  void queue_wait(double seconds);         // from enqueue to a worker picking the job up
  void image_decoded();
  void image_rejected();  // undecodable or over the pixel cap

  // Live gauges, read at render time.
  void add_gauge(std::string name, std::string help, std::function<double()> read);

  std::string render() const;

  // For tests and logs.
  std::uint64_t rejects(const std::string& reason) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, std::uint64_t> requests_;
  std::map<std::string, Histogram> durations_;  // by route
  std::map<std::string, std::uint64_t> rejects_;
  Histogram inference_, queue_wait_;
  std::uint64_t decoded_ = 0, decode_failed_ = 0;
  struct Gauge {
    std::string name, help;
    std::function<double()> read;
  };
  std::vector<Gauge> gauges_;
};

// Shortest round-trip text of a double as Prometheus reads it (+Inf, -Inf, NaN spelled out).
std::string format_metric_value(double value);

}  // namespace kprcnn::server

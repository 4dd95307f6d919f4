#include "metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace kprcnn::server {
namespace {

// Latency buckets in seconds: from a fast health check to a slow CPU inference under load.
std::vector<double> latency_buckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

std::string escape_label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string format_metric_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[64];
  const auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, value);
  return ec == std::errc() ? std::string(buf, ptr) : std::string("NaN");
}

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), buckets_(bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), value);  // first bound >= value (le)
  ++buckets_[static_cast<std::size_t>(it - bounds_.begin())];
  ++count_;
  if (std::isfinite(value)) sum_ += value;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  const std::string sep = labels.empty() ? "" : ",";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += buckets_[i];
    const std::string le = i < bounds_.size() ? format_metric_value(bounds_[i]) : "+Inf";
    out += name + "_bucket{" + labels + sep + "le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
  }
  const std::string braces = labels.empty() ? "" : "{" + labels + "}";
  out += name + "_sum" + braces + " " + format_metric_value(sum_) + "\n";
  out += name + "_count" + braces + " " + std::to_string(count_) + "\n";
}

Metrics::Metrics() : inference_(latency_buckets()), queue_wait_(latency_buckets()) {}

void Metrics::request(const std::string& route, int status, double seconds) {
  std::lock_guard lock(mu_);
  ++requests_[{route, status}];
  durations_.try_emplace(route, latency_buckets()).first->second.observe(seconds);
}

void Metrics::reject(const std::string& reason) {
  std::lock_guard lock(mu_);
  ++rejects_[reason];
}

void Metrics::inference(double seconds) {
  std::lock_guard lock(mu_);
  inference_.observe(seconds);
}

void Metrics::queue_wait(double seconds) {
  std::lock_guard lock(mu_);
  queue_wait_.observe(seconds);
}

void Metrics::image_decoded() {
  std::lock_guard lock(mu_);
  ++decoded_;
}

void Metrics::image_rejected() {
  std::lock_guard lock(mu_);
  ++decode_failed_;
}

void Metrics::add_gauge(std::string name, std::string help, std::function<double()> read) {
  std::lock_guard lock(mu_);
  gauges_.push_back({std::move(name), std::move(help), std::move(read)});
}

std::uint64_t Metrics::rejects(const std::string& reason) const {
  std::lock_guard lock(mu_);
  const auto it = rejects_.find(reason);
  return it == rejects_.end() ? 0 : it->second;
}

std::string Metrics::render() const {
  std::string out;
  out.reserve(8192);
  std::vector<Gauge> gauges;
  {
    std::lock_guard lock(mu_);
    header(out, "kprcnn_http_requests_total", "counter",
           "HTTP requests by route and status (499: the client went away or was cut before an answer).");
    for (const auto& [key, n] : requests_) {
      out += "kprcnn_http_requests_total{route=\"" + escape_label(key.first) + "\",status=\"" +
             std::to_string(key.second) + "\"} " + std::to_string(n) + "\n";
    }
    header(out, "kprcnn_http_request_duration_seconds", "histogram",
           "Time from the request line to the end of the answer, by route.");
    for (const auto& [route, h] : durations_) {
      h.render(out, "kprcnn_http_request_duration_seconds", "route=\"" + escape_label(route) + "\"");
    }
    header(out, "kprcnn_rejects_total", "counter",
           "Requests refused or cut before inference, by reason (queue_full, body_too_large, header_timeout, ...).");
    for (const auto& [reason, n] : rejects_) {
      out += "kprcnn_rejects_total{reason=\"" + escape_label(reason) + "\"} " + std::to_string(n) + "\n";
    }
    header(out, "kprcnn_inference_seconds", "histogram",
           "Worker time per predict request: decode, preprocess, model run, postprocess, encode.");
    inference_.render(out, "kprcnn_inference_seconds", "");
    header(out, "kprcnn_queue_wait_seconds", "histogram", "Time a predict request waited in the queue.");
    queue_wait_.render(out, "kprcnn_queue_wait_seconds", "");
    header(out, "kprcnn_images_decoded_total", "counter", "Request images decoded successfully.");
    out += "kprcnn_images_decoded_total " + std::to_string(decoded_) + "\n";
    header(out, "kprcnn_images_rejected_total", "counter",
           "Request images that could not be decoded or exceeded the pixel cap.");
    out += "kprcnn_images_rejected_total " + std::to_string(decode_failed_) + "\n";
    gauges = gauges_;
  }
  // Gauges read live state under their own locks: never call them under ours.
  for (const auto& g : gauges) {
    header(out, g.name.c_str(), "gauge", g.help.c_str());
    out += g.name + " " + format_metric_value(g.read()) + "\n";
  }
  return out;
}

}  // namespace kprcnn::server

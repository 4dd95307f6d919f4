#include "options.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>

#include "kprcnn/detector.h"
#include "kprcnn/error.h"

namespace kprcnn::server {
namespace {

[[noreturn]] void invalid(const std::string& message) {
  throw Error(ErrorCode::kInvalidArgument, message);
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Splits "1.5GiB" into a finite non-negative number and its suffix; false when there is no leading number.
bool split_number(std::string_view text, double& value, std::string_view& suffix) {
  text = trim(text);
  std::size_t end = 0;
  while (end < text.size() && (std::isdigit(static_cast<unsigned char>(text[end])) || text[end] == '.')) ++end;
  if (end == 0) return false;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + end, value);
  if (ec != std::errc() || ptr != text.data() + end || !std::isfinite(value) || value < 0) return false;
  suffix = trim(text.substr(end));
  return true;
}

std::uint64_t to_u64(double value, const std::string& what) {
  if (!(value < 1.8e19)) invalid(what + " is too large");
  return static_cast<std::uint64_t>(std::llround(value));
}

}  // namespace

Milliseconds parse_duration(std::string_view text) {
  const std::string what = "duration '" + std::string(text) + "'";
  double v = 0;
  std::string_view suffix;
  if (!split_number(text, v, suffix)) invalid(what + " is not a number with an optional unit (250ms, 30s, 2m, 1h)");
  const std::string unit = lower(suffix);
  double ms = 0;
  if (unit == "ms") {
    ms = v;
  } else if (unit.empty() || unit == "s") {
    ms = v * 1e3;
  } else if (unit == "m" || unit == "min") {
    ms = v * 60e3;
  } else if (unit == "h") {
    ms = v * 3600e3;
  } else {
    invalid(what + " has an unknown unit '" + std::string(suffix) + "' (use ms, s, m or h)");
  }
  if (ms > 1e12) invalid(what + " is too long");
  return Milliseconds(static_cast<std::int64_t>(std::llround(ms)));
}

std::uint64_t parse_bytes(std::string_view text) {
  const std::string what = "size '" + std::string(text) + "'";
  double v = 0;
  std::string_view suffix;
  if (!split_number(text, v, suffix)) invalid(what + " is not a number with an optional unit (32MiB, 512KiB, 1000)");
  const std::string unit = lower(suffix);
  double scale = 0;
  if (unit.empty() || unit == "b") {
    scale = 1;
  } else if (unit == "k" || unit == "kib") {
    scale = 1024.0;
  } else if (unit == "m" || unit == "mib") {
    scale = 1024.0 * 1024;
  } else if (unit == "g" || unit == "gib") {
    scale = 1024.0 * 1024 * 1024;
  } else if (unit == "kb") {
    scale = 1e3;
  } else if (unit == "mb") {
    scale = 1e6;
  } else if (unit == "gb") {
    scale = 1e9;
  } else {
    invalid(what + " has an unknown unit '" + std::string(suffix) + "' (use KiB, MiB, GiB, KB, MB, GB or bytes)");
  }
  return to_u64(v * scale, what);
}

std::uint64_t parse_count(std::string_view text) {
  const std::string what = "count '" + std::string(text) + "'";
  double v = 0;
  std::string_view suffix;
  if (!split_number(text, v, suffix)) invalid(what + " is not a number with an optional K, M or G suffix");
  const std::string unit = lower(suffix);
  double scale = 0;
  if (unit.empty()) {
    scale = 1;
  } else if (unit == "k") {
    scale = 1e3;
  } else if (unit == "m") {
    scale = 1e6;
  } else if (unit == "g") {
    scale = 1e9;
  } else {
    invalid(what + " has an unknown suffix '" + std::string(suffix) + "' (use K, M or G)");
  }
  return to_u64(v * scale, what);
}

int queue_capacity(const ServerOptions& options) {
  return options.queue > 0 ? options.queue : 4 * options.workers;
}

int intra_op_threads(const ServerOptions& options, unsigned cores) {
  if (options.options.detector.intra_op_threads > 0) return options.options.detector.intra_op_threads;
  const int workers = std::max(1, options.workers);
  return std::max(1, static_cast<int>(std::max(1u, cores)) / workers);
}

void validate(const ServerOptions& o) {
  auto range = [](const char* name, long long v, long long lo, long long hi) {
    if (v < lo || v > hi) {
      invalid(std::string("--") + name + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
              std::to_string(v));
    }
  };
  if (o.model.empty()) invalid("--model is required: the exported .onnx file to serve");
  if (o.host.empty()) invalid("--host must not be empty (use 127.0.0.1, 0.0.0.0 or ::)");
  range("port", o.port, 0, 65535);
  range("workers", o.workers, 1, 256);
  range("queue", o.queue, 0, 100000);
  // The table's options, set by flags (checked then) or by code: each value goes through set_option again, so a
  // bad one gets the CLI's message (an unknown engine name: kEngineUnavailable, exit 5) before anything listens.
  Options copy = o.options;
  for (const OptionInfo& info : option_list()) set_option(copy, info.name, get_option(o.options, info.name));
  range("io-threads", o.io_threads, 1, 64);
  range("max-connections", o.max_connections, 1, 1000000);
  range("retry-after", o.retry_after_s, 0, 3600);
  if (o.max_body < 1) invalid("--max-body must be at least 1 byte");
  if (o.max_header_bytes < 4096) invalid("--max-header-bytes must be at least 4KiB");
  if (o.max_uri < 16) invalid("--max-uri must be at least 16 bytes");
  const auto positive = [](const char* name, Milliseconds d) {
    if (d.count() <= 0) invalid(std::string("--") + name + " must be positive");
  };
  positive("timeout", o.timeout);
  positive("header-timeout", o.header_timeout);
  positive("idle-timeout", o.idle_timeout);
  if (o.drain.count() < 0) invalid("--drain must not be negative");
}

PredictQuery parse_predict_query(const std::function<const char*(const char*)>& lookup, const ServerOptions& options) {
  PredictQuery q;
  q.options = options.options;
  for (const OptionInfo& info : option_list()) {
    if (info.group == OptionGroup::kDetector) continue;  // fixed when the model loaded
    const char* v = lookup(info.name.c_str());
    if (!v) continue;
    const std::string_view given = trim(v);
    const bool bare = info.type == OptionType::kBool && given.empty();  // ?boxes
    const std::string value = bare ? std::string(1, '1') : std::string(given);
    try {
      set_option(q.options, info.name, value);
    } catch (const Error& e) {
      // Appended piecewise: GCC 12's -Wrestrict misfires on a literal + std::string chain here (a known false
      // positive of its inlined char_traits::copy).
      std::string message = "query parameter ";
      message.append(info.name).append("='").append(v).append("' is invalid: ").append(e.what());
      invalid(message);
    }
  }
  if (const char* v = lookup("annotate")) {
    const std::string s = lower(trim(v));
    if (s == "png") {
      q.annotate = Annotate::kPng;
    } else if (s == "jpeg" || s == "jpg") {
      q.annotate = Annotate::kJpeg;
    } else if (s.empty() || s == "none" || s == "json") {
      q.annotate = Annotate::kNone;
    } else {
      invalid("query parameter annotate='" + std::string(v) + "' is invalid: expected png or jpeg");
    }
  }
  return q;
}

}  // namespace kprcnn::server

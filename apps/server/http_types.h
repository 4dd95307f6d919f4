// The values that cross between the HTTP adapter (http_adapter.cpp, the only code that knows libmicrohttpd) and
// the rest of the server: a parsed request, a response, and the handle through which a response comes later.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace kprcnn::server {

using Clock = std::chrono::steady_clock;

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // For the request log: the error code of an error answer, the detection count of a prediction, and the time
  // the request waited for a worker and spent on it (milliseconds; -1: not applicable).
  std::string error;
  int detections = -1;
  double queue_ms = -1, infer_ms = -1;
};

// One HTTP request as the handlers see it. The adapter fills the first block; the body once it has all arrived.
struct HttpRequest {
  Clock::time_point start, deadline;  // request line received; start + --timeout
  std::string uri;                    // the request target as received (with the query)
  std::string method, path;
  // Query arguments in order; a key without '=' has no value (as libmicrohttpd reports it).
  std::vector<std::pair<std::string, std::optional<std::string>>> query;
  std::optional<std::uint64_t> content_length;
  bool body_expected = false;  // Content-Length > 0 or Transfer-Encoding: a body follows the headers
  std::string content_type;

  std::string body;             // complete when on_body() runs (empty when it was over --max-body)
  std::uint64_t received = 0;   // body bytes that arrived (counted past the cap too)
  bool body_too_large = false;  // more than --max-body arrived: the body was dropped

  // Set by the handler, for itself: the route's metric label and whether the request holds an admission slot.
  const char* route = nullptr;
  bool admitted = false;

  // The first value of `key` (nullptr when absent or without a value): the lookup parse_predict_query() takes.
  const char* query_value(const char* key) const {
    for (const auto& [k, v] : query) {
      if (k == key) return v ? v->c_str() : nullptr;
    }
    return nullptr;
  }
};

// A response that comes later, from another thread: the adapter implements it over a suspended connection.
class Responder {
 public:
  virtual ~Responder() = default;
  // Stores the answer and wakes the connection, once: later calls return false and their answer is dropped.
  virtual bool respond(Response response) = 0;
  virtual bool answered() = 0;
  // True when the client has closed its side (it will never read an answer). False once answered.
  virtual bool client_gone() = 0;
};

}  // namespace kprcnn::server

// What the endpoints answer, independent of the HTTP library: functions from a parsed HttpRequest (and what they
// need of the server: options, state, model) to a Response value. Library errors become statuses here (the server's
// counterpart of the CLI's exit_code()). The routing, admission and threading are server.cpp's and scheduler.cpp's.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http_types.h"
#include "kprcnn/detector.h"
#include "kprcnn/error.h"
#include "options.h"
#include "state.h"

namespace kprcnn::server {

// {"error": {"code": "<code>", "message": "<message>"}} with the given status.
Response error_response(int status, std::string_view code, std::string_view message);
// A library error: status from http_status(), code from to_string(ErrorCode), message = what() (as the CLI prints).
Response error_response(const Error& error);
// 400 bad input (decode, argument), 413 image over the pixel cap, 500 model/inference/internal failures, 504 a
// cancelled run (the server cancels a run only once its deadline has passed).
int http_status(ErrorCode code);

enum class Route { kIndex, kHealthz, kReadyz, kMetrics, kModel, kPredict };
struct RouteEntry {
  const char* path;
  Route route;
  const char* allow;  // methods, for 405's Allow header
};
const RouteEntry* find_route(std::string_view path);  // nullptr: 404

// The answers that need nothing but their arguments.
Response not_found(std::string_view path);
Response method_not_allowed(const RouteEntry& route, std::string_view method);
Response uri_too_long(std::size_t size, std::size_t max);
Response body_too_large(std::uint64_t size, std::uint64_t max);
Response deadline_response(std::chrono::milliseconds timeout);                             // 504
Response unavailable(std::string_view code, std::string_view message, int retry_after_s);  // 503 + Retry-After
Response index_page();
Response healthz();
Response readyz(State state, int retry_after_s);
Response metrics_page(std::string text);

struct PredictContext {
  const Detector* detector = nullptr;
  std::string model_name;  // the model's file name, as the CLI writes it
  std::uint64_t max_pixels = 0;
};

struct PredictStats {
  bool decoded = false;   // the image decoded (false: rejected, or never reached)
  bool rejected = false;  // undecodable or over the pixel cap
};

// A predict request's body and query, parsed: the image bytes (the multipart field "file", or the whole body) are
// `image_size` bytes at `image_offset` of the body, so that the body can move to the worker without a copy.
struct PredictInput {
  std::size_t image_offset = 0, image_size = 0;
  std::string image_name = "upload";
  PredictQuery query;
};
// Throws kprcnn::Error (kInvalidArgument: a malformed multipart body or query) for error_response().
PredictInput parse_predict_input(const HttpRequest& request, const ServerOptions& options);

// Decode → predict → the CLI's JSON (or the annotated PNG/JPEG). Never throws for bad input: library errors come
// back as error responses (400/413/500; 504 when `cancel` stopped the run).
Response predict(const PredictContext& ctx, std::span<const std::uint8_t> image, std::string_view image_name,
                 const PredictQuery& query, PredictStats& stats, const CancelToken* cancel = nullptr);

// GET /v1/model: {"model", "keypoints": [{"name", "color": "#rrggbb"}], "skeleton": [[i, j]], versions, limits}.
std::string model_info_json(const PredictContext& ctx, const ServerOptions& options);
Response model_page(const PredictContext& ctx, const ServerOptions& options);

// One JSON object per line, no trailing newline: {"status": "..."} bodies and log lines share this encoder, which
// replaces invalid UTF-8 instead of throwing (paths and filenames come from the network).
std::string status_json(std::string_view status);

}  // namespace kprcnn::server

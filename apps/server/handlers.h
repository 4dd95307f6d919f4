// What the endpoints answer, independent of the HTTP library: plain Response values built from library calls.
// Library errors become statuses here (the server's counterpart of the CLI's exit_code()).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kprcnn/detector.h"
#include "kprcnn/error.h"
#include "options.h"

namespace kprcnn::server {

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

// {"error": {"code": "<code>", "message": "<message>"}} with the given status.
Response error_response(int status, std::string_view code, std::string_view message);
// A library error: status from http_status(), code from to_string(ErrorCode), message = what() (as the CLI prints).
Response error_response(const Error& error);
// 400 bad input (decode, argument), 413 image over the pixel cap, 500 model/inference/internal failures.
int http_status(ErrorCode code);

struct PredictContext {
  const Detector* detector = nullptr;
  std::string model_name;  // the model's file name, as the CLI writes it
  std::uint64_t max_pixels = 0;
  int divisor = 1;
};

struct PredictStats {
  bool decoded = false;   // the image decoded (false: rejected, or never reached)
  bool rejected = false;  // undecodable or over the pixel cap
};

// Decode → predict → the CLI's JSON (or the annotated PNG/JPEG). Never throws for bad input: library errors come
// back as error responses (400/413/500).
Response predict(const PredictContext& ctx, std::span<const std::uint8_t> image, std::string_view image_name,
                 const PredictQuery& query, PredictStats& stats);

// GET /v1/model: {"model", "keypoints": [{"name", "color": "#rrggbb"}], "skeleton": [[i, j]], versions, limits}.
std::string model_info_json(const PredictContext& ctx, const ServerOptions& options);

// One JSON object per line, no trailing newline: {"status": "..."} bodies and log lines share this encoder, which
// replaces invalid UTF-8 instead of throwing (paths and filenames come from the network).
std::string status_json(std::string_view status);

}  // namespace kprcnn::server

#include "handlers.h"

#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "kprcnn/draw.h"
#include "kprcnn/image.h"
#include "kprcnn/json.h"
#include "kprcnn/pipeline.h"
#include "multipart.h"
#include "web_page.h"

namespace kprcnn::server {
namespace {

std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string hex_color(const Rgb& c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", c.r, c.g, c.b);
  return buf;
}

}  // namespace

namespace {
constexpr RouteEntry kRoutes[] = {
    {"/", Route::kIndex, "GET, HEAD"},         {"/healthz", Route::kHealthz, "GET, HEAD"},
    {"/readyz", Route::kReadyz, "GET, HEAD"},  {"/metrics", Route::kMetrics, "GET, HEAD"},
    {"/v1/model", Route::kModel, "GET, HEAD"}, {"/v1/predict", Route::kPredict, "POST"},
};
}  // namespace

const RouteEntry* find_route(std::string_view path) {
  for (const auto& r : kRoutes) {
    if (path == r.path) return &r;
  }
  return nullptr;
}

Response not_found(std::string_view path) {
  return error_response(404, "not_found", "no such endpoint: " + std::string(path));
}

Response method_not_allowed(const RouteEntry& route, std::string_view method) {
  Response r =
      error_response(405, "method_not_allowed",
                     std::string(method) + " is not allowed on " + route.path + " (allowed: " + route.allow + ")");
  r.headers.emplace_back("Allow", route.allow);
  return r;
}

Response uri_too_long(std::size_t size, std::size_t max) {
  return error_response(414, "uri_too_long",
                        "request target of " + std::to_string(size) + " bytes exceeds the limit of " +
                            std::to_string(max) + " bytes (--max-uri)");
}

Response body_too_large(std::uint64_t size, std::uint64_t max) {
  return error_response(413, "body_too_large",
                        "request body of " + std::to_string(size) + " bytes exceeds the limit of " +
                            std::to_string(max) + " bytes (--max-body)");
}

Response deadline_response(std::chrono::milliseconds timeout) {
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%gs", static_cast<double>(timeout.count()) / 1000);
  return error_response(504, "deadline_exceeded",
                        std::string("the request did not finish within ") + seconds +
                            " (--timeout): the server is busy or the image is too large; retry later");
}

Response unavailable(std::string_view code, std::string_view message, int retry_after_s) {
  Response r = error_response(503, code, message);
  r.headers.emplace_back("Retry-After", std::to_string(retry_after_s));
  return r;
}

Response index_page() {
  Response r;
  r.content_type = "text/html; charset=utf-8";
  r.body = std::string(index_html());
  r.headers.emplace_back("Content-Security-Policy",
                         "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                         "img-src 'self' blob: data:; connect-src 'self'; form-action 'none'");
  return r;
}

Response healthz() {
  Response r;
  r.body = status_json("ok");
  return r;
}

Response readyz(State state, int retry_after_s) {
  Response r;
  r.body = status_json(to_string(state));
  if (state != State::kReady) {
    r.status = 503;
    r.headers.emplace_back("Retry-After", std::to_string(retry_after_s));
  }
  return r;
}

Response metrics_page(std::string text) {
  Response r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = std::move(text);
  return r;
}

Response model_page(const PredictContext& ctx, const ServerOptions& options) {
  Response r;
  r.body = model_info_json(ctx, options);
  return r;
}

PredictInput parse_predict_input(const HttpRequest& request, const ServerOptions& options) {
  PredictInput in;
  in.image_size = request.body.size();
  if (const auto boundary = multipart_boundary(request.content_type)) {
    FormPart part = find_form_part(request.body, *boundary, "file");
    in.image_offset = static_cast<std::size_t>(part.data.data() - request.body.data());
    in.image_size = part.data.size();
    if (!part.filename.empty()) in.image_name = std::move(part.filename);
  }
  in.query = parse_predict_query([&request](const char* key) { return request.query_value(key); }, options);
  return in;
}

int http_status(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kImageDecode: return 400;
    case ErrorCode::kImageTooLarge: return 413;
    case ErrorCode::kIo:
    case ErrorCode::kModelLoad:
    case ErrorCode::kModelContract:
    case ErrorCode::kColormap:
    case ErrorCode::kEngineUnavailable:
    case ErrorCode::kInference:
    case ErrorCode::kInternal: return 500;
    case ErrorCode::kCancelled: return 504;  // the server cancels a run only when its deadline has passed
  }
  return 500;
}

Response error_response(int status, std::string_view code, std::string_view message) {
  Response r;
  r.status = status;
  r.error = std::string(code);
  r.body = dump({{"error", {{"code", code}, {"message", message}}}}) + "\n";
  return r;
}

Response error_response(const Error& error) {
  return error_response(http_status(error.code()), to_string(error.code()), error.what());
}

std::string status_json(std::string_view status) {
  return dump({{"status", status}}) + "\n";
}

Response predict(const PredictContext& ctx, std::span<const std::uint8_t> bytes, std::string_view image_name,
                 const PredictQuery& query, PredictStats& stats, const CancelToken* cancel) {
  try {
    // The shared pipeline's stages (kprcnn/pipeline.h), as `kprcnn predict` runs them.
    const Options& options = query.options;
    const bool annotated = query.annotate != Annotate::kNone;
    DecodeOptions decode;
    decode.max_pixels = ctx.max_pixels;
    ReducedImage image;
    try {
      image = decode_for_model(bytes, options, annotated, decode);
    } catch (const Error&) {
      stats.rejected = true;
      throw;
    }
    stats.decoded = true;

    const Prediction prediction =
        cancel ? ctx.detector->predict(image, options.predict, *cancel) : ctx.detector->predict(image, options.predict);

    Response r;
    r.detections = static_cast<int>(prediction.detections.size());
    r.headers.emplace_back("X-Detections", std::to_string(prediction.detections.size()));
    if (query.annotate == Annotate::kNone) {
      r.body = to_json(prediction, ctx.detector->colormap().keypoints, image_name, ctx.model_name);
      if (r.body.empty() || r.body.back() != '\n') r.body += '\n';
      return r;
    }
    annotate(image.image, prediction, *ctx.detector, options.draw);
    const std::vector<std::uint8_t> encoded =
        query.annotate == Annotate::kPng ? encode_png(image.image) : encode_jpeg(image.image);
    r.content_type = query.annotate == Annotate::kPng ? "image/png" : "image/jpeg";
    r.body.assign(encoded.begin(), encoded.end());
    return r;
  } catch (const Error& e) {
    return error_response(e);
  } catch (const std::bad_alloc&) {
    return error_response(503, "out_of_memory", "the server is out of memory for this image; retry later");
  } catch (const std::exception& e) {
    return error_response(500, "internal", std::string("internal error: ") + e.what());
  }
}

std::string model_info_json(const PredictContext& ctx, const ServerOptions& options) {
  nlohmann::json keypoints = nlohmann::json::array();
  for (const auto& k : ctx.detector->colormap().keypoints)
    keypoints.push_back({{"name", k.name}, {"color", hex_color(k.color)}});
  nlohmann::json skeleton = nlohmann::json::array();
  for (const auto& [a, b] : ctx.detector->colormap().skeleton) skeleton.push_back({a, b});
  const nlohmann::json j = {
      {"model", ctx.model_name},
      {"keypoints", keypoints},
      {"skeleton", skeleton},
      {"kprcnn", version()},
      {"onnxruntime", onnxruntime_version()},
      {"engine", ctx.detector->load_report().engine_description},
      {"defaults",
       {{"threshold", std::round(options.options.predict.threshold * 1e6) / 1e6},
        {"size", options.options.predict.size}}},
      {"limits", {{"max_body", options.max_body}, {"max_pixels", options.max_pixels}}},
  };
  return dump(j) + "\n";
}

}  // namespace kprcnn::server

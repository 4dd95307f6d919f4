#include "handlers.h"

#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "kprcnn/draw.h"
#include "kprcnn/image.h"
#include "kprcnn/json.h"

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
                 const PredictQuery& query, PredictStats& stats) {
  try {
    DecodeOptions decode;
    decode.max_pixels = ctx.max_pixels;
    Image image;
    try {
      image = decode_image(bytes, decode);
    } catch (const Error&) {
      stats.rejected = true;
      throw;
    }
    stats.decoded = true;

    PredictOptions options;
    options.threshold = query.threshold;
    options.size = query.size;
    options.divisor = ctx.divisor;
    const Prediction prediction = ctx.detector->predict(image, options);

    Response r;
    r.detections = static_cast<int>(prediction.detections.size());
    r.headers.emplace_back("X-Detections", std::to_string(prediction.detections.size()));
    if (query.annotate == Annotate::kNone) {
      r.body = to_json(prediction, ctx.detector->keypoints(), image_name, ctx.model_name);
      if (r.body.empty() || r.body.back() != '\n') r.body += '\n';
      return r;
    }
    DrawOptions draw;
    draw.boxes = query.boxes;
    draw_detections(image, prediction.detections, ctx.detector->keypoints(), draw, ctx.detector->skeleton());
    const std::vector<std::uint8_t> encoded = query.annotate == Annotate::kPng ? encode_png(image) : encode_jpeg(image);
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
  for (const auto& k : ctx.detector->keypoints())
    keypoints.push_back({{"name", k.name}, {"color", hex_color(k.color)}});
  nlohmann::json skeleton = nlohmann::json::array();
  for (const auto& [a, b] : ctx.detector->skeleton()) skeleton.push_back({a, b});
  const nlohmann::json j = {
      {"model", ctx.model_name},
      {"keypoints", keypoints},
      {"skeleton", skeleton},
      {"kprcnn", version()},
      {"onnxruntime", onnxruntime_version()},
      {"engine", ctx.detector->load_report().engine_description},
      {"defaults", {{"threshold", std::round(options.threshold * 1e6) / 1e6}, {"size", options.size}}},
      {"limits", {{"max_body", options.max_body}, {"max_pixels", options.max_pixels}}},
  };
  return dump(j) + "\n";
}

}  // namespace kprcnn::server

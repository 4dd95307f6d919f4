// Postprocessing: model outputs (input-tensor pixels) -> detections in source-image pixels.
#include "postprocess.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "kprcnn/error.h"

namespace kprcnn {
namespace {

// n * a * b without wrapping; SIZE_MAX when the product does not fit (it then never equals a real span size).
std::size_t checked_product(std::size_t n, std::size_t a, std::size_t b = 1) {
  constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max();
  if (a != 0 && n > kMax / a) return kMax;
  const std::size_t na = n * a;
  if (b != 0 && na > kMax / b) return kMax;
  return na * b;
}

void check_size(const char* output, std::size_t actual, std::size_t expected, const char* shape,
                const RawOutputs& raw) {
  if (actual == expected) return;
  throw Error(ErrorCode::kInference, std::string("model output '") + output + "' has " + std::to_string(actual) +
                                         " values, expected " + shape + " = " + std::to_string(expected) +
                                         " (N=" + std::to_string(raw.n) + ", K=" + std::to_string(raw.k) +
                                         "); the model does not follow the Keypoint R-CNN output contract");
}

bool all_finite(std::span<const float> values) {
  return std::all_of(values.begin(), values.end(), [](float v) { return std::isfinite(v); });
}

float clamp_to(double v, int limit) {
  return static_cast<float>(std::clamp(v, 0.0, static_cast<double>(limit)));
}

}  // namespace

std::vector<Detection> postprocess(const RawOutputs& raw, const PostprocessParams& params) {
  check_size("boxes", raw.boxes.size(), checked_product(raw.n, 4), "N*4", raw);
  check_size("labels", raw.labels.size(), raw.n, "N", raw);
  check_size("scores", raw.scores.size(), raw.n, "N", raw);
  check_size("keypoints", raw.keypoints.size(), checked_product(raw.n, raw.k, 3), "N*K*3", raw);
  check_size("keypoints_scores", raw.keypoint_scores.size(), checked_product(raw.n, raw.k), "N*K", raw);
  if (params.input_width <= 0 || params.input_height <= 0 || params.image_width <= 0 || params.image_height <= 0) {
    throw Error(ErrorCode::kInvalidArgument, "postprocess: input size " + std::to_string(params.input_width) + "x" +
                                                 std::to_string(params.input_height) + " and image size " +
                                                 std::to_string(params.image_width) + "x" +
                                                 std::to_string(params.image_height) + " must all be positive");
  }
  if (std::isnan(params.threshold)) {
    throw Error(ErrorCode::kInvalidArgument, "postprocess: the score threshold is NaN; pass a number such as 0.8");
  }

  // Scale in double: exact for every realistic size, and float(x * s) is the correctly rounded result.
  const double sx = static_cast<double>(params.image_width) / params.input_width;
  const double sy = static_cast<double>(params.image_height) / params.input_height;
  const int w = params.image_width, h = params.image_height;

  std::vector<Detection> detections;
  for (std::size_t i = 0; i < raw.n; ++i) {
    const float score = raw.scores[i];
    if (!(score > params.threshold)) continue;  // strict, as the recipe; also drops a NaN score
    const std::span<const float> box = raw.boxes.subspan(i * 4, 4);
    const std::span<const float> kps = raw.keypoints.subspan(i * raw.k * 3, raw.k * 3);
    const std::span<const float> kp_scores = raw.keypoint_scores.subspan(i * raw.k, raw.k);
    if (!std::isfinite(score) || !all_finite(box) || !all_finite(kp_scores)) continue;
    bool finite = true;
    for (std::size_t j = 0; j < raw.k && finite; ++j) {
      finite = std::isfinite(kps[j * 3]) && std::isfinite(kps[j * 3 + 1]);  // the visibility channel is unused
    }
    if (!finite) continue;

    Detection d;
    d.score = score;
    d.label = raw.labels[i];
    d.box = {clamp_to(box[0] * sx, w), clamp_to(box[1] * sy, h), clamp_to(box[2] * sx, w), clamp_to(box[3] * sy, h)};
    d.keypoints.resize(raw.k);
    for (std::size_t j = 0; j < raw.k; ++j) {
      d.keypoints[j] = {clamp_to(kps[j * 3] * sx, w), clamp_to(kps[j * 3 + 1] * sy, h), kp_scores[j]};
    }
    detections.push_back(std::move(d));
  }
  std::stable_sort(detections.begin(), detections.end(),
                   [](const Detection& a, const Detection& b) { return a.score > b.score; });
  return detections;
}

}  // namespace kprcnn

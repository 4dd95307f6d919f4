// The postprocess step fed arbitrary model outputs (fault row 9): NaN/Inf, negative and huge sizes, boxes far
// outside the image, N and K that disagree with the tensors; then the JSON writer and the drawing of the result.
// Invariants: a size mismatch is kInference, a bad size or threshold kInvalidArgument, and otherwise every value
// out is finite, above the threshold, inside the image and sorted; the JSON never holds NaN, Infinity or null.
//
// Input layout: n (1 byte, 0..15), k (1 byte, 0..23), mismatch selector (1 byte), mismatch delta (1 byte, signed),
// input width/height and image width/height (4 x int32), threshold (float), drawing radius and line width (2 x
// float), skeleton pairs (4 x 2 x int8); then the values of boxes, scores, keypoints, keypoints_scores (raw float
// bits) and labels (int64), zero once the data runs out.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_input.h"
#include "kprcnn/draw.h"
#include "kprcnn/error.h"
#include "kprcnn/json.h"
#include "postprocess.h"

namespace {

using kprcnn::fuzz::fail;

std::size_t adjusted(std::size_t size, bool mismatch, int delta) {
  if (!mismatch || delta == 0) return size;
  if (delta < 0 && static_cast<std::size_t>(-delta) > size) return size + static_cast<std::size_t>(-delta);
  return size + static_cast<std::size_t>(static_cast<std::ptrdiff_t>(delta));
}

// What a non-finite number looks like in any JSON writer: nlohmann writes null, others NaN, nan, Infinity, inf.
bool has_non_finite(const std::string& json) {
  for (const char* word : {"null", "nan", "NaN", "inf", "Inf"}) {
    if (json.find(word) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace kprcnn;
  fuzz::Input in(data, size);
  const std::size_t n = in.read<std::uint8_t>() % 16, k = in.read<std::uint8_t>() % 24;
  const std::uint8_t mismatch = in.read<std::uint8_t>();
  const int delta = in.read<std::int8_t>();
  PostprocessParams params;
  params.input_width = in.read<std::int32_t>();
  params.input_height = in.read<std::int32_t>();
  params.image_width = in.read<std::int32_t>();
  params.image_height = in.read<std::int32_t>();
  params.threshold = in.read<float>();
  DrawOptions draw;
  draw.radius = in.read<float>();
  draw.line_width = in.read<float>();
  draw.boxes = (mismatch & 0x40) != 0;
  std::vector<std::pair<int, int>> skeleton;
  for (int i = 0; i < 4; ++i) skeleton.emplace_back(in.read<std::int8_t>(), in.read<std::int8_t>());

  // Which outputs get a wrong size: bit i of the selector for output i (boxes, labels, scores, keypoints, scores).
  const std::size_t sizes[5] = {adjusted(n * 4, mismatch & 1, delta), adjusted(n, mismatch & 2, delta),
                                adjusted(n, mismatch & 4, delta), adjusted(n * k * 3, mismatch & 8, delta),
                                adjusted(n * k, mismatch & 16, delta)};
  const auto boxes = in.read_array<float>(sizes[0]);
  const auto scores = in.read_array<float>(sizes[2]);
  const auto keypoints = in.read_array<float>(sizes[3]);
  const auto keypoint_scores = in.read_array<float>(sizes[4]);
  const auto labels = in.read_array<std::int64_t>(sizes[1]);
  const RawOutputs raw{n, k, boxes, labels, scores, keypoints, keypoint_scores};

  const bool sizes_ok =
      sizes[0] == n * 4 && sizes[1] == n && sizes[2] == n && sizes[3] == n * k * 3 && sizes[4] == n * k;
  const bool params_ok = params.input_width > 0 && params.input_height > 0 && params.image_width > 0 &&
                         params.image_height > 0 && !std::isnan(params.threshold);
  Prediction prediction;
  try {
    prediction.detections = postprocess(raw, params);
  } catch (const Error& e) {
    if (!sizes_ok && e.code() == ErrorCode::kInference) return 0;
    if (sizes_ok && !params_ok && e.code() == ErrorCode::kInvalidArgument) return 0;
    fail("unexpected postprocess error:", e.what());
  }
  if (!sizes_ok || !params_ok) fail("postprocess accepted inconsistent outputs or parameters");

  const float w = static_cast<float>(params.image_width), h = static_cast<float>(params.image_height);
  const auto in_range = [](float v, float limit) { return std::isfinite(v) && v >= 0.0f && v <= limit; };
  if (prediction.detections.size() > n) fail("more detections than outputs");
  for (std::size_t i = 0; i < prediction.detections.size(); ++i) {
    const Detection& d = prediction.detections[i];
    if (!std::isfinite(d.score) || !(d.score > params.threshold)) fail("score not finite or not above the threshold");
    if (i > 0 && prediction.detections[i - 1].score < d.score) fail("detections not sorted by score");
    if (!in_range(d.box.x1, w) || !in_range(d.box.x2, w) || !in_range(d.box.y1, h) || !in_range(d.box.y2, h)) {
      fail("box outside the image or not finite");
    }
    if (d.keypoints.size() != k) fail("wrong keypoint count");
    for (const Keypoint& p : d.keypoints) {
      if (!in_range(p.x, w) || !in_range(p.y, h) || !std::isfinite(p.score)) fail("keypoint outside or not finite");
    }
  }

  prediction.width = params.image_width;
  prediction.height = params.image_height;
  std::vector<KeypointInfo> names;
  for (std::size_t j = 0; j < k / 2; ++j) names.push_back({"kp" + std::to_string(j), {200, 100, 50}});
  const std::string json = to_json(prediction, names, "image.jpg", "model.onnx");
  if (has_non_finite(json)) {
    fail("non-finite number in the JSON:", json.c_str());
  }

  // Draw the result (and the raw detections unclamped: the public drawing API takes any coordinates) on a canvas,
  // radius, line width and detection count small enough to keep every execution fast.
  if (params.image_width <= 48 && params.image_height <= 48) {
    DrawOptions bounded = draw;
    if (!(std::fabs(bounded.radius) < 32)) bounded.radius = 0;
    if (!(std::fabs(bounded.line_width) < 32)) bounded.line_width = 0;
    Image canvas(params.image_width, params.image_height);
    prediction.detections.resize(std::min<std::size_t>(prediction.detections.size(), 8));
    draw_detections(canvas, prediction.detections, names, bounded, skeleton);
    std::vector<Detection> unclamped(std::min<std::size_t>(n, 8));
    for (std::size_t i = 0; i < unclamped.size(); ++i) {
      unclamped[i].box = {boxes[i * 4], boxes[i * 4 + 1], boxes[i * 4 + 2], boxes[i * 4 + 3]};
      for (std::size_t j = 0; j < k; ++j) {
        unclamped[i].keypoints.push_back({keypoints[(i * k + j) * 3], keypoints[(i * k + j) * 3 + 1], 0.0f});
      }
    }
    draw_detections(canvas, unclamped, names, bounded, skeleton);
  }
  return 0;
}

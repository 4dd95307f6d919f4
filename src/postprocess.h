// Postprocessing: pure functions, no I/O. Internal to the library (tests include it directly).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "kprcnn/types.h"

namespace kprcnn {

// Views of the model's five outputs for one image (N detections, K keypoints).
struct RawOutputs {
  std::size_t n = 0, k = 0;
  std::span<const float> boxes;            // N * 4
  std::span<const std::int64_t> labels;    // N
  std::span<const float> scores;           // N
  std::span<const float> keypoints;        // N * K * 3
  std::span<const float> keypoint_scores;  // N * K
};

struct PostprocessParams {
  float threshold = 0.8f;  // keep score > threshold
  // Input tensor size and source image size: coordinates are scaled by source/input per axis.
  int input_width = 0, input_height = 0;
  int image_width = 0, image_height = 0;
};

// Threshold (score > threshold, strictly; a NaN score never passes), scale back to the source image per axis
// (x * (image_width / input_width), y * (image_height / input_height), in double), clamp boxes and keypoints
// to [0, width] x [0, height]. A detection with any non-finite value (score, box, keypoint x/y/score) is dropped,
// so no NaN or Inf ever reaches JSON; the keypoints' third (visibility) channel is ignored. Keypoint.score is the
// keypoints_scores value. Output is sorted by score, highest first (stable).
// Throws kInference naming the output whose span size disagrees with n and k (boxes N*4, labels N, scores N,
// keypoints N*K*3, keypoints_scores N*K); kInvalidArgument for a non-positive size or a NaN threshold.
std::vector<Detection> postprocess(const RawOutputs& raw, const PostprocessParams& params);

}  // namespace kprcnn

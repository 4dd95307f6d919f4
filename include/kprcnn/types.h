// kprcnn/types.h — plain result types shared by the library and apps.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace kprcnn {

struct Rgb {
  std::uint8_t r = 0, g = 0, b = 0;
  friend bool operator==(const Rgb&, const Rgb&) = default;
};

// One keypoint class: its name and drawing colour (from the model metadata or a colormap JSON).
struct KeypointInfo {
  std::string name;
  Rgb color;
};

struct Box {
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0;  // source-image pixels, top-left / bottom-right
};

struct Keypoint {
  float x = 0, y = 0;  // source-image pixels
  float score = 0;     // the model's keypoint logit (torchvision's keypoints_scores); not a probability
};

struct Detection {
  Box box;
  float score = 0;  // detection score in [0, 1]
  std::int64_t label = 0;
  std::vector<Keypoint> keypoints;  // one per keypoint class, in model order
};

// A model's keypoint classes and the lines to draw between them (Detector::colormap(); the colormap JSON format,
// json.h's parse_colormap).
struct Colormap {
  std::vector<KeypointInfo> keypoints;
  std::vector<std::pair<int, int>> skeleton;  // indices into keypoints
};

// What Detector::predict returns for one image.
struct Prediction {
  int width = 0, height = 0;              // source image size (after EXIF orientation)
  int input_width = 0, input_height = 0;  // size of the tensor fed to the model
  std::vector<Detection> detections;      // sorted by score, highest first
  // Stage times in milliseconds, for logs and benchmarks; preprocess_ms = resize_ms + the tensor conversion.
  double preprocess_ms = 0, inference_ms = 0, postprocess_ms = 0;
  double resize_ms = 0;
};

}  // namespace kprcnn

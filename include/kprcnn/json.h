// kprcnn/json.h — the one JSON writer (used by the CLI and the server) and the colormap reader.
// No JSON library type crosses this header: documents go in and out as std::string.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kprcnn/types.h"

namespace kprcnn {

// Per-image result document:
// {"image": "...", "width": W, "height": H, "model": "...", "detections": [{"label": 1, "score": s,
//   "box": [x1, y1, x2, y2], "keypoints": [{"name": "nose", "x": x, "y": y, "score": s}, ...]}]}
// Non-finite numbers never appear (the postprocess drops them; the writer would emit null as a last resort).
std::string to_json(const Prediction& prediction, const std::vector<KeypointInfo>& keypoints,
                    std::string_view image_name, std::string_view model_name, int indent = 2);

// COCO keypoint-detection results, the file the COCO evaluators read (pycocotools' COCO.loadRes):
// [{"image_id": 42, "category_id": 1, "keypoints": [x1, y1, 2, x2, y2, 2, ...], "score": 0.97,
//   "bbox": [x, y, width, height]}, ...]: one entry per detection, images in the given order. category_id is the
// model's label (torchvision: 1 = the first foreground class, as COCO's person = 1); every keypoint gets v = 2
// ("labelled and visible": results carry no visibility, and the evaluators ignore v there); coordinates are
// source-image pixels; bbox is the detection box as x, y, width, height.
struct CocoImageResult {
  std::int64_t image_id = 0;
  std::vector<Detection> detections;
};
std::string to_coco_json(const std::vector<CocoImageResult>& images, int indent = -1);

// Colormap JSON: {"items": [{"label": "nose", "color": [r, g, b]}, ...]} with r, g, b in 0..1 (as the training
// folder's *-colormap.json); an optional "skeleton": [["a", "b"], ...] of label pairs.
// (Colormap: types.h.)
// Throws kColormap naming the problem (not JSON, no "items", bad colour, duplicate label, unknown skeleton name).
Colormap parse_colormap(std::string_view json_text);
Colormap read_colormap(const std::filesystem::path& path);

}  // namespace kprcnn

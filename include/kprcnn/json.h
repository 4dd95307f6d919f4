// kprcnn/json.h — the one JSON writer (used by the CLI and the server) and the colormap reader.
// No JSON library type crosses this header: documents go in and out as std::string.
#pragma once

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

// Colormap JSON: {"items": [{"label": "nose", "color": [r, g, b]}, ...]} with r, g, b in 0..1 (as the training
// folder's *-colormap.json); an optional "skeleton": [["a", "b"], ...] of label pairs.
struct Colormap {
  std::vector<KeypointInfo> keypoints;
  std::vector<std::pair<int, int>> skeleton;  // indices into keypoints
};
// Throws kColormap naming the problem (not JSON, no "items", bad colour, duplicate label, unknown skeleton name).
Colormap parse_colormap(std::string_view json_text);
Colormap read_colormap(const std::filesystem::path& path);

}  // namespace kprcnn

// The inference engine behind a Detector: ONNX Runtime (src/ort/) or OpenVINO (src/openvino/, a plugin loaded at
// run time by src/engine_openvino.cpp). Internal: the public headers expose neither engine; each engine's own
// headers are included in its folder only. An engine loads the model, describes its inputs and outputs (the
// Detector checks the Keypoint R-CNN contract on that description, the same for every engine) and runs it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kprcnn/detector.h"

namespace kprcnn::engine {

// The five outputs of one run, owned (N <= detections_per_img, so copying them is cheap).
struct Outputs {
  std::size_t n = 0, k = 0;
  std::vector<float> boxes, scores, keypoints, keypoint_scores;
  std::vector<std::int64_t> labels;
};

// How the engine loaded the model (the Detector's LoadReport is built from it).
struct Loaded {
  double load_ms = 0;                // everything in the engine's constructor
  bool cache_hit = false;            // loaded from the model cache
  std::filesystem::path cache_file;  // the cache entry used or written ("" when no cache)
  std::string cache_note;            // why the cache was not used or not written ("" when fine)
  std::string description;           // "onnxruntime 1.22.0 CPUExecutionProvider ..." (logs, kprcnn info)
};

class Engine {
 public:
  virtual ~Engine() = default;
  // Inputs, outputs and metadata as the engine sees them (for check_contract and `kprcnn info`).
  virtual const ModelInfo& info() const noexcept = 0;
  virtual const Loaded& loaded() const noexcept = 0;
  // chw holds 3 * height * width floats (RGB, 0..1). Thread-safe: several threads may run at once. `cancel` (may be
  // null) stops the run from another thread: it then throws Error(kCancelled) (src/cancel.h).
  virtual Outputs run(std::span<const float> chw, int height, int width, CancelToken::State* cancel) const = 0;
};

// Throws kModelContract naming every difference between `info` and the Keypoint R-CNN contract (detector.h).
void check_contract(const ModelInfo& info);

// Checks common to every engine before loading: the file exists, is not a folder, and its external data (if any)
// stays beside it. kIo / kModelLoad naming the file.
void check_model_file(const std::filesystem::path& model);

// The engines. Both throw kprcnn::Error: kIo, kModelLoad, kModelContract, kEngineUnavailable.
std::unique_ptr<Engine> open_onnxruntime(const std::filesystem::path& model, const DetectorOptions& options);
std::unique_ptr<Engine> open_openvino(const std::filesystem::path& model, const DetectorOptions& options);

// OpenVINO's availability without loading a model: "" when its plugin loads, else why not (for auto selection,
// `kprcnn info` and error messages). Loads the plugin once per process.
std::string openvino_unavailable_reason();
std::string openvino_version();  // "" when unavailable

}  // namespace kprcnn::engine

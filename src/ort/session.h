// The only place that talks to ONNX Runtime. Nothing here exposes an ONNX Runtime type: the Detector and the
// apps see plain vectors and the kprcnn::Error exception.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kprcnn/detector.h"

namespace kprcnn::ort {

// The five outputs of one run, owned (N <= detections_per_img, so copying them is cheap).
struct Outputs {
  std::size_t n = 0, k = 0;
  std::vector<float> boxes, scores, keypoints, keypoint_scores;
  std::vector<std::int64_t> labels;
};

struct SessionConfig {
  int intra_op_threads = 0;
  int inter_op_threads = 1;
  GraphOptimization optimization = GraphOptimization::kAll;
  bool allow_spinning = false;         // session.intra_op.allow_spinning / inter_op
  bool cpu_arena = true;               // ONNX Runtime's CPU memory arena
  bool memory_pattern = false;         // ONNX Runtime's memory pattern planning
  std::filesystem::path cache_dir;     // optimised-model cache (model_cache.h); empty: none
  std::filesystem::path profile_file;  // ONNX Runtime profile JSON, written when the session ends; empty: none
};

// How the session was loaded (for logs and benchmarks).
struct LoadReport {
  double load_ms = 0;                // everything in the constructor
  bool cache_hit = false;            // loaded the optimised graph from the cache
  std::filesystem::path cache_file;  // the cache entry used or written ("" when no cache)
  std::string cache_note;            // why the cache was not used or not written ("" when fine)
};

class Session {
 public:
  // Opens the model (kModelLoad on failure) and checks the Keypoint R-CNN contract (kModelContract).
  Session(const std::filesystem::path& model, const SessionConfig& config);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const ModelInfo& info() const noexcept;
  const LoadReport& load_report() const noexcept;
  // chw holds 3 * height * width floats (RGB, 0..1). Thread-safe.
  Outputs run(std::span<const float> chw, int height, int width) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::string version();
std::vector<std::string> providers();

}  // namespace kprcnn::ort

// kprcnn/detector.h — run an exported Keypoint R-CNN on images.
//
// Ownership: a Detector owns one loaded model on one inference engine (ONNX Runtime or OpenVINO: Engine below). It
// is move-only; a moved-from Detector is empty and throws kInvalidArgument if used. predict() is const and safe to
// call from several threads at once on one Detector (ONNX Runtime sessions are thread-safe for Run; on OpenVINO
// each concurrent call takes its own infer request).
//
// The model contract (checked at load, a kModelContract error names what was expected and what was found):
//   input  "input"            float32 [1, 3, H, W] (H, W dynamic), RGB in 0..1
//   output "boxes"            float32 [N, 4]  (x1, y1, x2, y2 in input-tensor pixels)
//          "labels"           int64   [N]
//          "scores"           float32 [N]
//          "keypoints"        float32 [N, K, 3] (x, y, visibility)
//          "keypoints_scores" float32 [N, K]
// This is what `kprcnn export` (python/kprcnn_export) writes; it also stores the keypoint names and colours in
// the model metadata (key "kprcnn.colormap", the colormap JSON format), which the Detector reads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kprcnn/image.h"
#include "kprcnn/types.h"

namespace kprcnn {

enum class GraphOptimization { kDisabled, kBasic, kExtended, kAll };

// The inference engine (README, Engines). kAuto: OpenVINO for float models when its plugin (libkprcnn_openvino.so)
// loads, else ONNX Runtime; ONNX Runtime for models quantised by `kprcnn quantize` (their accuracy is measured on
// ONNX Runtime's INT8 kernels) and whenever a GPU provider is asked for. The rule follows bench/RESULTS.md (engines).
enum class Engine { kAuto, kOnnxRuntime, kOpenVino };
// ONNX Runtime's execution provider. kCuda and kTensorRt need ONNX Runtime's GPU build and NVIDIA's libraries;
// without them loading fails with kEngineUnavailable naming what is missing.
enum class Provider { kCpu, kCuda, kTensorRt };
// OpenVINO's inference precision. kF32 (exact mode) pins f32: OpenVINO would otherwise pick bf16 on CPUs with AMX or
// AVX-512 BF16. kBf16 lets it (fast mode; on other CPUs it runs f32). ONNX Runtime always runs the model's types.
enum class Precision { kF32, kBf16 };

// "auto", "ort" (or "onnxruntime"), "openvino" / "cpu", "cuda", "tensorrt" / "f32", "bf16". Anything else:
// kEngineUnavailable listing the names.
Engine parse_engine(const std::string& name);
Provider parse_provider(const std::string& name);
Precision parse_precision(const std::string& name);
const char* to_string(Engine engine) noexcept;  // "auto", "ort", "openvino"
const char* to_string(Provider provider) noexcept;

struct DetectorOptions {
  Engine engine = Engine::kAuto;
  Provider provider = Provider::kCpu;     // ONNX Runtime only
  Precision precision = Precision::kF32;  // OpenVINO only
  // predict() calls expected at once (a server's workers). ONNX Runtime runs them on one session; OpenVINO gets as
  // many streams (and LATENCY becomes its THROUGHPUT hint when > 1), so concurrent calls do not queue.
  int concurrent_runs = 1;
  int intra_op_threads = 0;  // threads per run; 0: the engine's default (one per physical core)
  int inter_op_threads = 1;  // ONNX Runtime only
  GraphOptimization optimization = GraphOptimization::kAll;
  // Explicit colormap JSON ({"items":[{"label":..,"color":[r,g,b in 0..1]}]}); wins over the model metadata.
  std::filesystem::path colormap;
  // ONNX Runtime's threads busy-wait between operators. Measured on a 2-core machine (bench/RESULTS.md): no
  // faster for this model, and it takes CPU from everything else (decode/encode threads, other processes).
  bool allow_spinning = false;
  bool cpu_memory_arena = true;  // ONNX Runtime's CPU arena (faster repeated runs; keeps its peak memory)
  // ONNX Runtime's memory pattern: plans one block for all of a run's intermediate tensors. With this model's
  // input-dependent shapes it mostly adds peak memory: 1082 MB -> 801 MB peak RSS over 3 runs at 512x768 with it
  // off (ONNX Runtime 1.22), session time within the noise (bench/RESULTS.md, levers). Off unless asked for.
  bool memory_pattern = false;
  // Optimised-model cache: the graph after ONNX Runtime's optimisations is saved here on the first load and loaded
  // instead on later ones (a restart then skips the optimisation pass). Entries are keyed by the model's content,
  // the ONNX Runtime version, the CPU and `optimization`, so a changed model is never served from a stale entry.
  // Empty: no cache. The CLI uses default_model_cache_dir().
  // OpenVINO's compiled model is cached the same way (".ovblob" entries with a checksum: a damaged entry is
  // rebuilt, never loaded), keyed also by the OpenVINO version and the precision.
  std::filesystem::path model_cache_dir;
  // Runs the model this many times at load on a synthetic image (threads, arena and first-run costs are paid at
  // load, not by the first request). A server wants 1; a one-shot command 0.
  int warm_up_runs = 0;
  // Write ONNX Runtime's profile (chrome://tracing JSON, one event per operator run) here when the Detector is
  // destroyed. Empty: no profiling (it costs time).
  std::filesystem::path profile_file;
};

// How the Detector's model was loaded.
struct LoadReport {
  Engine engine = Engine::kOnnxRuntime;  // the engine that runs the model (kAuto resolved)
  std::string engine_description;        // "onnxruntime 1.22.0 CPUExecutionProvider", "openvino 2026.4.1 CPU f32 ..."
  std::string engine_note;               // why kAuto chose this engine
  double load_ms = 0;                    // model load, contract check and optimisation (or cache load)
  double warm_up_ms = 0;                 // DetectorOptions::warm_up_runs
  bool cache_hit = false;                // the optimised graph came from the cache
  std::filesystem::path cache_file;      // the cache entry used or written ("" when no cache)
  std::string cache_note;                // why the cache was not used ("" when it was)
};

// $XDG_CACHE_HOME/kprcnn, else $HOME/.cache/kprcnn ("" when neither is set).
std::filesystem::path default_model_cache_dir();

struct PredictOptions {
  float threshold = 0.8f;  // keep detections with score > threshold (strictly, as the recipe)
  int size = 512;          // shorter side of the model input, aspect kept
  int divisor = 1;         // round each input side down to a multiple of this (the recipe's resize_img divisor)
};

struct TensorInfo {
  std::string name;
  std::string type;                 // "float32", "int64", ...
  std::vector<std::int64_t> shape;  // -1 for dynamic dimensions
  std::vector<std::string> dims;    // symbolic names where the model has them ("" otherwise)
  // The engine does not know the rank before a run (OpenVINO, for a graph whose output shapes it cannot infer):
  // `shape` is then empty, the contract check accepts any rank, and a wrong one is an error when the model runs.
  bool dynamic_rank = false;
};

// "float32 [1, 3, height, width]": type and shape, symbolic names for dynamic dimensions ("?" when unnamed).
std::string to_string(const TensorInfo& tensor);

struct ModelInfo {
  std::filesystem::path path;
  std::vector<TensorInfo> inputs, outputs;
  std::map<std::string, std::string> metadata;  // custom metadata_props
  std::string producer, graph_name;
  std::int64_t opset = 0;
  int num_keypoints = 0;  // K
};

// Stops a predict() in progress from another thread: a server cancels the run of a request whose deadline has
// passed, so its worker is free for the next one instead of finishing an answer nobody will read. Copies share one
// flag; cancel() is thread-safe, idempotent and never blocks on the run. The predict() given the token then throws
// Error(kCancelled) instead of returning: at once if the token was cancelled before it started, else as soon as the
// engine notices (ONNX Runtime: before the next operator; OpenVINO: InferRequest::cancel). A token cannot be reset;
// use a fresh one per run.
class CancelToken {
 public:
  CancelToken();
  void cancel() const noexcept;
  bool cancelled() const noexcept;

  struct State;  // the engines' side (src/cancel.h)
  State& state() const noexcept { return *state_; }

 private:
  std::shared_ptr<State> state_;
};

class Detector {
 public:
  explicit Detector(const std::filesystem::path& model, const DetectorOptions& options = {});
  ~Detector();
  Detector(Detector&&) noexcept;
  Detector& operator=(Detector&&) noexcept;
  Detector(const Detector&) = delete;
  Detector& operator=(const Detector&) = delete;

  // Preprocess (resize shorter side, CHW float/255), run, postprocess (threshold, scale back, clamp, drop NaN).
  Prediction predict(const Image& image, const PredictOptions& options = {}) const;
  // The same for a reduced decode of a larger image (decode_image_reduced, the fast mode): the input size is planned
  // from the full size, and coordinates are reported in the full image's frame.
  Prediction predict(const ReducedImage& image, const PredictOptions& options = {}) const;
  // Both, stoppable through `cancel` (throws Error(kCancelled) once it is cancelled).
  Prediction predict(const Image& image, const PredictOptions& options, const CancelToken& cancel) const;
  Prediction predict(const ReducedImage& image, const PredictOptions& options, const CancelToken& cancel) const;

  const ModelInfo& info() const;
  const LoadReport& load_report() const;
  // The K keypoint classes (names, colours) and the skeleton lines to draw (may be empty): from DetectorOptions::
  // colormap, else the model's metadata ("kprcnn.colormap"), else kp0..kpK-1 in a fixed palette.
  const Colormap& colormap() const;

 private:
  Prediction run(const Image& image, int source_width, int source_height, const PredictOptions& options,
                 CancelToken::State* cancel) const;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// (Offline tools on model files, optimize_model and model_file_stats: model_tools.h.)

// ONNX Runtime facts for `kprcnn info` and logs.
std::string onnxruntime_version();
std::vector<std::string> available_providers();
// OpenVINO's version ("2026.4.1-..."), or "" when its plugin does not load; then openvino_unavailable_reason()
// says why (not built, libkprcnn_openvino.so or the OpenVINO libraries missing, a version mismatch).
std::string openvino_version();
std::string openvino_unavailable_reason();

// Library version ("0.1.0"; kprcnn/version.h has the compile-time one).
const char* version() noexcept;

}  // namespace kprcnn

// The kprcnn command's subcommands. Each returns the process exit code; library errors are mapped by exit_code().
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "kprcnn/detector.h"
#include "kprcnn/error.h"
#include "kprcnn/options.h"

namespace kprcnn::cli {

// Exit codes (also in README): 0 ok, 1 some inputs of a batch failed, 2 bad arguments, 3 file I/O,
// 4 unreadable or too-large image, 5 model or colormap refused, 6 inference failed, 70 internal error.
int exit_code(ErrorCode code);
// Prints "error: <message>" to stderr and returns exit_code(e.code()).
int report(const Error& e);

// "engine: openvino 2026.4.1 CPU f32 ... (why auto chose it)" for the load line.
std::string engine_line(const LoadReport& report);
// The load lines every model-running command prints: "loaded <model> (K keypoints) in N ms (cache ...)", the
// engine line, and the model cache's note when it was not used.
void print_load(const std::filesystem::path& model, const Detector& detector, double load_ms);

// kprcnn predict. `options`: the table's detector, predict and draw options (kprcnn/options.h, apps/cli/options.h).
struct PredictArgs {
  Options options = default_options();
  std::filesystem::path model, input, output;
  bool draw = true;
  bool quiet = false;
  std::filesystem::path coco;  // when set: one COCO keypoint-results file for the whole run
};
int run_predict(const PredictArgs& args);

struct InfoArgs {
  std::filesystem::path model, colormap;
};
int run_info(const InfoArgs& args);

// kprcnn eval: scores `results`, or, with `model` and `images`, runs the model on the ground truth's images first
// (images / file_name, detections scoring above min_score) and scores those (written to write_results if set).
struct EvalArgs {
  // With --model: the table's detector and predict options; options.predict.threshold is --min-score (the
  // detections scored for AP), `threshold` below the operating point of the stats.
  Options options = default_options();
  std::filesystem::path annotations, results, json;
  std::string sigmas;  // "s1,s2,..." or empty
  double threshold = 0.8;
  std::filesystem::path model, images, write_results;
  bool quiet = false;
};
int run_eval(const EvalArgs& args);

// ONNX Runtime offline optimisation (see kprcnn::optimize_model); level: basic, extended or all.
struct OptimizeArgs {
  std::filesystem::path input, output;
  std::string level = "basic";
};
int run_optimize(const OptimizeArgs& args);

// Runs the Python exporter (python -m kprcnn_export) with the given arguments; returns its exit code.
int run_export(const std::vector<std::string>& args);
// Runs the INT8 quantiser (python -m kprcnn_export.quantize: ONNX Runtime's Python tooling).
int run_quantize(const std::vector<std::string>& args);
// Synthetic data (python -m kprcnn_export.synth: numpy + Pillow) and training (python -m kprcnn_export.train:
// PyTorch), both with the exporter's Python.
int run_synth(const std::vector<std::string>& args);
int run_train(const std::vector<std::string>& args);

// kprcnn triton-repo: OUT_DIR/<name>/{config.pbtxt,1/model.onnx} for Triton's onnxruntime backend.
struct TritonRepoArgs {
  std::filesystem::path model, out_dir;
  std::string name;  // default: the model file's stem, sanitised
  int instances = 1;
  bool force = false;
};
int run_triton_repo(const TritonRepoArgs& args);
// The config.pbtxt text for `info` (every metadata_props key a string parameter; kprcnn_missing names what is absent).
std::string triton_config(const std::string& name, const ModelInfo& info, int instances);

}  // namespace kprcnn::cli

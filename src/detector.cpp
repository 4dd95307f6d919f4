// Detector: preprocess → engine (ONNX Runtime or OpenVINO) → postprocess. See include/kprcnn/detector.h.
#include "kprcnn/detector.h"

#include <chrono>
#include <cstdlib>

#include "cache/model_cache.h"
#include "cancel.h"
#include "engine.h"
#include "kprcnn/error.h"
#include "kprcnn/json.h"
#include "kprcnn/model_tools.h"
#include "kprcnn/version.h"
#include "ort/session.h"
#include "postprocess.h"
#include "preprocess.h"

namespace kprcnn {
namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// Names kp0..kpK-1 in a fixed, distinct palette when neither the model nor the user gives a colormap.
std::vector<KeypointInfo> default_keypoints(int k) {
  static const Rgb palette[] = {{230, 25, 75},   {60, 180, 75},   {255, 225, 25},  {0, 130, 200},   {245, 130, 48},
                                {145, 30, 180},  {70, 240, 240},  {240, 50, 230},  {210, 245, 60},  {250, 190, 212},
                                {0, 128, 128},   {220, 190, 255}, {170, 110, 40},  {255, 250, 200}, {128, 0, 0},
                                {170, 255, 195}, {128, 128, 0},   {255, 215, 180}, {0, 0, 128},     {128, 128, 128}};
  std::vector<KeypointInfo> out;
  for (int i = 0; i < k; ++i) out.push_back({"kp" + std::to_string(i), palette[i % std::size(palette)]});
  return out;
}

// 4:3 at the default input size: a gradient with a few blocks, so that the backbone, the RPN and (for most
// models) some heads run at a typical size. Only the shapes matter for warming up, not what is detected.
Image warm_up_image() {
  Image image(683, 512);
  for (int y = 0; y < image.height; ++y) {
    std::uint8_t* row = image.row(y);
    for (int x = 0; x < image.width; ++x) {
      const bool block = ((x / 128) + (y / 128)) % 3 == 0;
      row[3 * x] = static_cast<std::uint8_t>(block ? 200 : x * 255 / image.width);
      row[3 * x + 1] = static_cast<std::uint8_t>(block ? 60 : y * 255 / image.height);
      row[3 * x + 2] = static_cast<std::uint8_t>(block ? 40 : 128);
    }
  }
  return image;
}

// kAuto's rule (detector.h, Engine). Returns the engine and why it was chosen.
std::pair<Engine, std::string> choose_engine(const std::filesystem::path& model, const DetectorOptions& options) {
  if (options.engine != Engine::kAuto) return {options.engine, ""};
  if (options.provider != Provider::kCpu) {
    return {Engine::kOnnxRuntime, "a GPU execution provider was asked for"};
  }
  if (!options.profile_file.empty()) return {Engine::kOnnxRuntime, "profiling is ONNX Runtime's"};
  std::error_code ec;
  if (std::filesystem::is_regular_file(model, ec)) {
    const ModelFileStats stats = model_file_stats(model);
    if (stats.metadata.count("kprcnn.quantization")) {
      return {Engine::kOnnxRuntime,
              "quantised by kprcnn quantize, whose accuracy gate ran ONNX Runtime's INT8 kernels"};
    }
    if (!stats.domains.empty()) {
      return {Engine::kOnnxRuntime, "the graph uses " + stats.domains.front() +
                                        " operators (kprcnn optimize --level extended/all): ONNX Runtime's own"};
    }
  }
  const std::string unavailable = engine::openvino_unavailable_reason();
  if (!unavailable.empty()) return {Engine::kOnnxRuntime, "OpenVINO is unavailable: " + unavailable};
  return {Engine::kOpenVino, "a float model, and OpenVINO is available (bench/RESULTS.md, engines)"};
}

}  // namespace

struct Detector::Impl {
  std::unique_ptr<engine::Engine> engine;
  Colormap colormap;
  LoadReport report;
};

Detector::Detector(const std::filesystem::path& model, const DetectorOptions& options)
    : impl_(std::make_unique<Impl>()) {
  if (options.concurrent_runs < 1 || options.concurrent_runs > 256) {
    throw Error(ErrorCode::kInvalidArgument,
                "concurrent_runs must be in [1, 256], got " + std::to_string(options.concurrent_runs));
  }
  const auto [chosen, note] = choose_engine(model, options);
  if (chosen == Engine::kOpenVino) {
    if (options.provider != Provider::kCpu) {
      throw Error(ErrorCode::kEngineUnavailable, std::string("--provider ") + to_string(options.provider) +
                                                     " is an ONNX Runtime execution provider; OpenVINO runs on the "
                                                     "CPU here. Use --engine ort with it.");
    }
    if (!options.profile_file.empty()) {
      throw Error(ErrorCode::kInvalidArgument, "profiling writes ONNX Runtime's profile; use --engine ort with it");
    }
    impl_->engine = engine::open_openvino(model, options);
  } else {
    impl_->engine = engine::open_onnxruntime(model, options);
  }
  const engine::Loaded& loaded = impl_->engine->loaded();
  impl_->report.engine = chosen;
  impl_->report.engine_description = loaded.description;
  impl_->report.engine_note = note;
  impl_->report.load_ms = loaded.load_ms;
  impl_->report.cache_hit = loaded.cache_hit;
  impl_->report.cache_file = loaded.cache_file;
  impl_->report.cache_note = loaded.cache_note;
  const ModelInfo& info = impl_->engine->info();

  int k = info.num_keypoints;
  if (k <= 0) {
    if (auto it = info.metadata.find("kprcnn.num_keypoints"); it != info.metadata.end()) {
      k = std::atoi(it->second.c_str());
    }
  }
  std::string source;
  if (!options.colormap.empty()) {
    impl_->colormap = read_colormap(options.colormap);
    source = "colormap " + options.colormap.string();
  } else if (auto it = info.metadata.find("kprcnn.colormap"); it != info.metadata.end()) {
    try {
      impl_->colormap = parse_colormap(it->second);
    } catch (const Error& e) {
      throw Error(ErrorCode::kColormap, "model " + model.string() + " has unreadable keypoint metadata: " + e.what() +
                                            "\n  Pass --colormap with the training folder's *-colormap.json.");
    }
    source = "the model metadata";
  }
  const int named = static_cast<int>(impl_->colormap.keypoints.size());
  if (k <= 0) k = named;
  if (named > 0 && k > 0 && named != k) {
    throw Error(ErrorCode::kColormap, "the model has " + std::to_string(k) + " keypoints but " + source + " names " +
                                          std::to_string(named) +
                                          "; use the colormap of the training folder this model was exported from");
  }
  if (named == 0 && k > 0) impl_->colormap.keypoints = default_keypoints(k);

  if (options.warm_up_runs > 0) {
    const auto t0 = Clock::now();
    const Image scene = warm_up_image();
    for (int i = 0; i < options.warm_up_runs; ++i) predict(scene);
    impl_->report.warm_up_ms = ms_since(t0);
  }
}

Detector::~Detector() = default;
Detector::Detector(Detector&&) noexcept = default;
Detector& Detector::operator=(Detector&&) noexcept = default;

namespace {
[[noreturn]] void throw_moved_from() {
  throw Error(ErrorCode::kInvalidArgument, "this Detector was moved from; use the one it was moved to");
}
}  // namespace

CancelToken::CancelToken() : state_(std::make_shared<State>()) {}
void CancelToken::cancel() const noexcept {
  state_->cancel();
}
bool CancelToken::cancelled() const noexcept {
  return state_->cancelled();
}

Prediction Detector::predict(const Image& image, const PredictOptions& options) const {
  return run(image, image.width, image.height, options, nullptr);
}

Prediction Detector::predict(const ReducedImage& image, const PredictOptions& options) const {
  return run(image.image, image.source_width, image.source_height, options, nullptr);
}

Prediction Detector::predict(const Image& image, const PredictOptions& options, const CancelToken& cancel) const {
  return run(image, image.width, image.height, options, &cancel.state());
}

Prediction Detector::predict(const ReducedImage& image, const PredictOptions& options,
                             const CancelToken& cancel) const {
  return run(image.image, image.source_width, image.source_height, options, &cancel.state());
}

// Every predict overload: `image` is the pixels to run on, source_width x source_height the frame to report in
// (the image's own size, or the full size it was reduced from), `cancel` null or the caller's token.
Prediction Detector::run(const Image& image, int source_width, int source_height, const PredictOptions& options,
                         CancelToken::State* cancel) const {
  if (!impl_) throw_moved_from();
  if (cancel && cancel->cancelled()) throw CancelScope::cancelled_error();  // before the resize, too
  if (image.empty() || image.pixels.size() != static_cast<std::size_t>(image.width) * image.height * 3) {
    throw Error(ErrorCode::kInvalidArgument, "empty or inconsistent image (" + std::to_string(image.width) + "x" +
                                                 std::to_string(image.height) + "); nothing to run the model on");
  }
  if (!(options.threshold >= 0.0f && options.threshold <= 1.0f)) {
    throw Error(ErrorCode::kInvalidArgument, "threshold must be in [0, 1], got " + std::to_string(options.threshold));
  }
  // A frame smaller than the pixels is a caller's mistake (a ReducedImage not made by decode_image_reduced).
  Prediction result;
  result.width = source_width;
  result.height = source_height;
  if (result.width < image.width || result.height < image.height) {
    throw Error(ErrorCode::kInvalidArgument, "reduced image " + std::to_string(image.width) + "x" +
                                                 std::to_string(image.height) + " is larger than its source frame " +
                                                 std::to_string(result.width) + "x" + std::to_string(result.height));
  }

  auto t0 = Clock::now();
  const Size input = plan_resize(result.width, result.height, options.size, options.divisor);
  std::vector<float> chw;
  if (input.width == image.width && input.height == image.height) {
    chw = to_chw_float(image);
  } else {
    const Image resized = resize_bicubic(image, input.width, input.height);
    result.resize_ms = ms_since(t0);
    chw = to_chw_float(resized);
  }
  result.input_width = input.width;
  result.input_height = input.height;
  result.preprocess_ms = ms_since(t0);

  auto t1 = Clock::now();
  const engine::Outputs out = impl_->engine->run(chw, input.height, input.width, cancel);
  result.inference_ms = ms_since(t1);

  auto t2 = Clock::now();
  RawOutputs raw{out.n, out.k, out.boxes, out.labels, out.scores, out.keypoints, out.keypoint_scores};
  PostprocessParams params{options.threshold, input.width, input.height, result.width, result.height};
  result.detections = postprocess(raw, params);
  result.postprocess_ms = ms_since(t2);
  return result;
}

const ModelInfo& Detector::info() const {
  if (!impl_) throw_moved_from();
  return impl_->engine->info();
}

const LoadReport& Detector::load_report() const {
  if (!impl_) throw_moved_from();
  return impl_->report;
}

std::filesystem::path default_model_cache_dir() {
  return cache::default_cache_dir();
}

const Colormap& Detector::colormap() const {
  if (!impl_) throw_moved_from();
  return impl_->colormap;
}

std::string onnxruntime_version() {
  return ort::version();
}
std::vector<std::string> available_providers() {
  return ort::providers();
}
std::string openvino_version() {
  return engine::openvino_version();
}
std::string openvino_unavailable_reason() {
  return engine::openvino_unavailable_reason();
}

Engine parse_engine(const std::string& name) {
  if (name == "auto") return Engine::kAuto;
  if (name == "ort" || name == "onnxruntime") return Engine::kOnnxRuntime;
  if (name == "openvino") return Engine::kOpenVino;
  throw Error(ErrorCode::kEngineUnavailable, "unknown engine '" + name + "': use auto, ort or openvino");
}
Provider parse_provider(const std::string& name) {
  if (name == "cpu") return Provider::kCpu;
  if (name == "cuda") return Provider::kCuda;
  if (name == "tensorrt") return Provider::kTensorRt;
  throw Error(ErrorCode::kEngineUnavailable, "unknown execution provider '" + name + "': use cpu, cuda or tensorrt");
}
Precision parse_precision(const std::string& name) {
  if (name == "f32") return Precision::kF32;
  if (name == "bf16") return Precision::kBf16;
  throw Error(ErrorCode::kInvalidArgument, "unknown precision '" + name + "': use f32 or bf16");
}
const char* to_string(Engine engine) noexcept {
  switch (engine) {
    case Engine::kAuto: return "auto";
    case Engine::kOnnxRuntime: return "ort";
    case Engine::kOpenVino: return "openvino";
  }
  return "?";
}
const char* to_string(Provider provider) noexcept {
  switch (provider) {
    case Provider::kCpu: return "cpu";
    case Provider::kCuda: return "cuda";
    case Provider::kTensorRt: return "tensorrt";
  }
  return "?";
}
const char* version() noexcept {
  return KPRCNN_VERSION_STRING;
}

}  // namespace kprcnn

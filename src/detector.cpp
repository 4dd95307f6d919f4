// Detector: preprocess → ONNX Runtime → postprocess. See include/kprcnn/detector.h.
#include "kprcnn/detector.h"

#include <chrono>
#include <cstdlib>

#include "kprcnn/error.h"
#include "kprcnn/json.h"
#include "ort/model_cache.h"
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

}  // namespace

struct Detector::Impl {
  std::unique_ptr<ort::Session> session;
  Colormap colormap;
  LoadReport report;
};

Detector::Detector(const std::filesystem::path& model, const DetectorOptions& options)
    : impl_(std::make_unique<Impl>()) {
  ort::SessionConfig config;
  config.intra_op_threads = options.intra_op_threads;
  config.inter_op_threads = options.inter_op_threads;
  config.optimization = options.optimization;
  config.allow_spinning = options.allow_spinning;
  config.cpu_arena = options.cpu_memory_arena;
  config.memory_pattern = options.memory_pattern;
  config.cache_dir = options.model_cache_dir;
  config.profile_file = options.profile_file;
  impl_->session = std::make_unique<ort::Session>(model, config);
  const ort::LoadReport& loaded = impl_->session->load_report();
  impl_->report = {loaded.load_ms, 0.0, loaded.cache_hit, loaded.cache_file, loaded.cache_note};
  const ModelInfo& info = impl_->session->info();

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

Prediction Detector::predict(const Image& image, const PredictOptions& options) const {
  if (!impl_) throw_moved_from();
  if (image.empty() || image.pixels.size() != static_cast<std::size_t>(image.width) * image.height * 3) {
    throw Error(ErrorCode::kInvalidArgument, "empty or inconsistent image (" + std::to_string(image.width) + "x" +
                                                 std::to_string(image.height) + "); nothing to run the model on");
  }
  if (!(options.threshold >= 0.0f && options.threshold <= 1.0f)) {
    throw Error(ErrorCode::kInvalidArgument, "threshold must be in [0, 1], got " + std::to_string(options.threshold));
  }
  const bool reduced = options.source_width > 0 && options.source_height > 0;
  Prediction result;
  result.width = reduced ? options.source_width : image.width;
  result.height = reduced ? options.source_height : image.height;

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
  const ort::Outputs out = impl_->session->run(chw, input.height, input.width);
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
  return impl_->session->info();
}

const LoadReport& Detector::load_report() const {
  if (!impl_) throw_moved_from();
  return impl_->report;
}

std::filesystem::path default_model_cache_dir() {
  return ort::default_cache_dir();
}

const std::vector<KeypointInfo>& Detector::keypoints() const {
  if (!impl_) throw_moved_from();
  return impl_->colormap.keypoints;
}

const std::vector<std::pair<int, int>>& Detector::skeleton() const {
  if (!impl_) throw_moved_from();
  return impl_->colormap.skeleton;
}

std::string onnxruntime_version() {
  return ort::version();
}
std::vector<std::string> available_providers() {
  return ort::providers();
}
const char* version() noexcept {
  return KPRCNN_VERSION;
}

}  // namespace kprcnn

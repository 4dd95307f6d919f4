// Detector: preprocess → ONNX Runtime → postprocess. See include/kprcnn/detector.h.
#include "kprcnn/detector.h"

#include <chrono>
#include <cstdlib>

#include "kprcnn/error.h"
#include "kprcnn/json.h"
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

}  // namespace

struct Detector::Impl {
  std::unique_ptr<ort::Session> session;
  Colormap colormap;
};

Detector::Detector(const std::filesystem::path& model, const DetectorOptions& options)
    : impl_(std::make_unique<Impl>()) {
  impl_->session = std::make_unique<ort::Session>(
      model, ort::SessionConfig{options.intra_op_threads, options.inter_op_threads, options.optimization});
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
  Prediction result;
  result.width = image.width;
  result.height = image.height;

  auto t0 = Clock::now();
  const Size input = plan_resize(image.width, image.height, options.size, options.divisor);
  std::vector<float> chw;
  if (input.width == image.width && input.height == image.height) {
    chw = to_chw_float(image);
  } else {
    chw = to_chw_float(resize_bicubic(image, input.width, input.height));
  }
  result.input_width = input.width;
  result.input_height = input.height;
  result.preprocess_ms = ms_since(t0);

  auto t1 = Clock::now();
  const ort::Outputs out = impl_->session->run(chw, input.height, input.width);
  result.inference_ms = ms_since(t1);

  auto t2 = Clock::now();
  RawOutputs raw{out.n, out.k, out.boxes, out.labels, out.scores, out.keypoints, out.keypoint_scores};
  PostprocessParams params{options.threshold, input.width, input.height, image.width, image.height};
  result.detections = postprocess(raw, params);
  result.postprocess_ms = ms_since(t2);
  return result;
}

const ModelInfo& Detector::info() const {
  if (!impl_) throw_moved_from();
  return impl_->session->info();
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

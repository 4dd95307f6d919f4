// The shared decode → predict → draw path (kprcnn/pipeline.h).
#include "kprcnn/pipeline.h"

#include <chrono>

#include "kprcnn/draw.h"
#include "kprcnn/error.h"

namespace kprcnn {
namespace {
double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}
}  // namespace

ReducedImage decode_for_model(std::span<const std::uint8_t> bytes, const Options& options, bool annotate,
                              const DecodeOptions& decode) {
  if (options.fast_decode) {
    if (annotate) {
      throw Error(ErrorCode::kInvalidArgument,
                  "fast_decode decodes JPEGs at reduced size for the model only; it cannot be combined with an "
                  "annotated image (which needs the full decode): turn drawing off (--no-draw) or fast_decode off");
    }
    return decode_image_reduced(bytes, options.predict.size, decode);
  }
  ReducedImage full;
  full.image = decode_image(bytes, decode);
  full.source_width = full.image.width;
  full.source_height = full.image.height;
  return full;
}

void annotate(Image& image, const Prediction& prediction, const Detector& detector, const DrawOptions& options) {
  const Colormap& colormap = detector.colormap();
  draw_detections(image, prediction.detections, colormap.keypoints, options, colormap.skeleton);
}

ImageResult run_image(const Detector& detector, std::span<const std::uint8_t> bytes, const Options& options,
                      bool annotate_image, const DecodeOptions& decode) {
  ImageResult result;
  auto t = std::chrono::steady_clock::now();
  ReducedImage decoded = decode_for_model(bytes, options, annotate_image, decode);
  result.decode_ms = ms_since(t);
  result.prediction = detector.predict(decoded, options.predict);
  result.image = std::move(decoded.image);
  if (annotate_image) {
    t = std::chrono::steady_clock::now();
    annotate(result.image, result.prediction, detector, options.draw);
    result.draw_ms = ms_since(t);
  }
  return result;
}

}  // namespace kprcnn

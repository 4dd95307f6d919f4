// kprcnn/pipeline.h — one image through decode → predict → draw: the path `kprcnn predict`, `kprcnn eval`,
// `kprcnn serve`, `kprcnn bench` and the Python module share (encoding: image.h's encode_png / encode_jpeg).
//
// The stages are separate functions for callers that run them on different threads (the CLI's folder pipeline
// decodes image i+1 and draws image i-1 while the model runs on image i); run_image does all of them for one image.
#pragma once

#include <cstdint>
#include <span>

#include "kprcnn/detector.h"
#include "kprcnn/image.h"
#include "kprcnn/options.h"

namespace kprcnn {

// Decodes for the model: the full image, or with options.fast_decode a JPEG decoded at reduced size
// (decode_image_reduced, planned from options.predict.size). `annotate`: an annotated image will be drawn on the
// result, which needs the full decode: with fast_decode that is kInvalidArgument, saying so.
ReducedImage decode_for_model(std::span<const std::uint8_t> bytes, const Options& options, bool annotate,
                              const DecodeOptions& decode = {});

// Draws `prediction` on `image` (the full decode) in the detector's colours: the recipe's circles, plus skeleton
// lines and boxes as options say.
void annotate(Image& image, const Prediction& prediction, const Detector& detector, const DrawOptions& options = {});

struct ImageResult {
  Prediction prediction;
  Image image;  // the decoded image; annotated when run_image was asked to (else as decoded, possibly reduced)
  double decode_ms = 0, draw_ms = 0;
};

// decode_for_model → Detector::predict → annotate (when `annotate`).
ImageResult run_image(const Detector& detector, std::span<const std::uint8_t> bytes, const Options& options,
                      bool annotate, const DecodeOptions& decode = {});

}  // namespace kprcnn

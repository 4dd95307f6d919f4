// kprcnn eval: COCO keypoint and box AP of a results file (kprcnn::evaluate_coco), a table and optional JSON;
// with --model and --images it first runs the model on the ground truth's images, as kprcnn predict would.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <optional>
#include <sstream>
#include <system_error>

#include "commands.h"
#include "kprcnn/kprcnn.h"
#include "pipeline.h"

namespace kprcnn::cli {
namespace {

std::vector<double> parse_sigmas(const std::string& text) {
  std::vector<double> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    try {
      std::size_t used = 0;
      const double v = std::stod(item, &used);
      if (used != item.size() || !(v > 0) || !std::isfinite(v)) throw std::invalid_argument(item);
      out.push_back(v);
    } catch (const std::exception&) {
      throw Error(ErrorCode::kInvalidArgument, "--sigmas " + text + ": expected positive numbers separated by commas");
    }
  }
  return out;
}

void row(const char* label, double value) {
  char text[64];
  if (value < 0) {
    std::snprintf(text, sizeof text, "%10s", "-1");
  } else {
    std::snprintf(text, sizeof text, "%10.4f", value);
  }
  std::cout << "  " << label << text << "\n";
}

// Runs the model on every ground-truth image (images / file_name) and returns its detections as a COCO results
// file. Every image must be there and decode at the size the ground truth gives: a missing or different image
// would make the scores silently wrong, so it is an error naming the image.
std::string predict_ground_truth(const EvalArgs& args, const std::string& annotations_json) {
  namespace fs = std::filesystem;
  const std::vector<CocoImage> images = read_coco_images_json(annotations_json, args.annotations.string());
  std::error_code ec;
  if (!fs::is_directory(args.images, ec)) {
    throw Error(ErrorCode::kIo, "--images " + args.images.string() + " is not a folder");
  }
  std::size_t missing = 0;
  std::string first_missing;
  for (const auto& image : images) {
    if (!fs::is_regular_file(args.images / image.file_name, ec)) {
      if (missing++ == 0) first_missing = image.file_name;
    }
  }
  if (missing > 0) {
    throw Error(ErrorCode::kIo, std::to_string(missing) + " of the ground truth's " + std::to_string(images.size()) +
                                    " images are not in " + args.images.string() + " (the first: " + first_missing +
                                    "); give the folder the annotations' file_names are relative to");
  }
  const auto started = std::chrono::steady_clock::now();
  const Options& options = args.options;
  const Detector detector(args.model, options.detector);
  if (!args.quiet) std::fprintf(stderr, "%s\n", engine_line(detector.load_report()).c_str());

  struct Item {
    std::size_t index = 0;
    ReducedImage image;
    std::vector<Detection> detections;
    std::optional<Error> error;
  };
  std::vector<CocoImageResult> results(images.size());
  auto load = [&](std::size_t i) {
    Item item;
    item.index = i;
    try {
      const fs::path path = args.images / images[i].file_name;
      item.image = decode_for_model(read_file(path), options, /*annotate=*/false);
      const int width = item.image.source_width, height = item.image.source_height;
      const CocoImage& gt = images[i];
      if ((gt.width && gt.width != width) || (gt.height && gt.height != height)) {
        throw Error(ErrorCode::kInvalidArgument,
                    gt.file_name + " is " + std::to_string(width) + "x" + std::to_string(height) +
                        " (after EXIF orientation) but the ground truth says " + std::to_string(gt.width) + "x" +
                        std::to_string(gt.height) + ": its annotations would not match the model's coordinates");
      }
    } catch (const Error& e) {
      item.error = e;
    }
    return item;
  };
  auto infer = [&](Item& item) {
    if (item.error) return;
    item.detections = detector.predict(item.image, options.predict).detections;
  };
  auto store = [&](Item& item) {
    if (item.error) {
      throw Error(item.error->code(), "image " + images[item.index].file_name + ": " + item.error->what());
    }
    results[item.index] = {images[item.index].id, std::move(item.detections)};
    item.image = ReducedImage();
  };
  run_pipeline(images.size(), load, infer, store);
  std::string json = to_coco_json(results);
  if (!args.write_results.empty()) write_file_atomic(args.write_results, json);
  if (!args.quiet) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::fprintf(stderr, "ran %s on %zu images at --size %d in %.1f s (%.2f images/s, load included)\n",
                 args.model.filename().c_str(), images.size(), options.predict.size, s, images.size() / s);
  }
  return json;
}

}  // namespace

int run_eval(const EvalArgs& args) {
  CocoEvalOptions options;
  if (!args.sigmas.empty()) options.sigmas = parse_sigmas(args.sigmas);
  options.threshold = args.threshold;
  const bool run_model = !args.model.empty() || !args.images.empty();
  if (run_model == !args.results.empty() || (run_model && (args.model.empty() || args.images.empty()))) {
    throw Error(ErrorCode::kInvalidArgument,
                "give either --results FILE (a COCO results file to score) or --model M.onnx with --images DIR (run "
                "the model on the ground truth's images)");
  }
  if (!run_model && !args.write_results.empty()) {
    throw Error(ErrorCode::kInvalidArgument, "--write-results needs --model and --images");
  }
  CocoEvalResult r;
  if (run_model) {
    const std::vector<std::uint8_t> bytes = read_file(args.annotations);  // read once: listed, then scored
    const std::string gt(bytes.begin(), bytes.end());
    r = evaluate_coco_json(gt, predict_ground_truth(args, gt), options, args.annotations.string(),
                           args.model.filename().string());
  } else {
    r = evaluate_coco(args.annotations, args.results, options);
  }
  std::cout << r.images << " images, " << r.ground_truths << " ground-truth objects, " << r.detections
            << " detections; OKS sigmas (" << r.sigmas_source << "):";
  for (const double s : r.sigmas) std::cout << " " << s;
  std::cout << "\nkeypoints (OKS, maxDets 20)\n";
  const char* kp[] = {"AP       @[.50:.95] all   ", "AP       @.50       all   ", "AP       @.75       all   ",
                      "AP       @[.50:.95] medium", "AP       @[.50:.95] large ", "AR       @[.50:.95] all   ",
                      "AR       @.50       all   ", "AR       @.75       all   ", "AR       @[.50:.95] medium",
                      "AR       @[.50:.95] large "};
  for (std::size_t i = 0; i < r.keypoints.size(); ++i) row(kp[i], r.keypoints[i]);
  std::cout << "boxes (IoU)\n";
  const char* bb[] = {
      "AP       @[.50:.95] all    100", "AP       @.50       all    100", "AP       @.75       all    100",
      "AP       @[.50:.95] small  100", "AP       @[.50:.95] medium 100", "AP       @[.50:.95] large  100",
      "AR       @[.50:.95] all      1", "AR       @[.50:.95] all     10", "AR       @[.50:.95] all    100",
      "AR       @[.50:.95] small  100", "AR       @[.50:.95] medium 100", "AR       @[.50:.95] large  100"};
  for (std::size_t i = 0; i < r.bbox.size(); ++i) row(bb[i], r.bbox[i]);
  const OperatingPoint& op = r.operating_point;
  std::cout << "operating point: score > " << op.threshold << ", matched at OKS >= 0.5 (" << op.matched
            << " matches)\n";
  row("precision                 ", op.precision);
  row("recall                    ", op.recall);
  row("F1                        ", op.f1);
  row("mean keypoint error, px   ", op.mean_error_px);
  row("mean keypoint error / box ", op.mean_error_rel);
  row("PCK@0.05                  ", op.pck_005);
  row("PCK@0.1                   ", op.pck_010);
  if (!args.json.empty()) {
    write_file_atomic(args.json, to_json(r));
    std::cout << "wrote " << args.json.string() << "\n";
  }
  return 0;
}

}  // namespace kprcnn::cli

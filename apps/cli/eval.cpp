// kprcnn eval: COCO keypoint and box AP of a results file (kprcnn::evaluate_coco), a table and optional JSON.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "commands.h"
#include "kprcnn/error.h"
#include "kprcnn/eval.h"
#include "kprcnn/image.h"

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

}  // namespace

int run_eval(const EvalArgs& args) {
  CocoEvalOptions options;
  if (!args.sigmas.empty()) options.sigmas = parse_sigmas(args.sigmas);
  options.threshold = args.threshold;
  const CocoEvalResult r = evaluate_coco(args.annotations, args.results, options);
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

// kprcnn/eval.h — COCO keypoint and box accuracy of a results file, computed as pycocotools' COCOeval does.
//
// evaluate_coco() reads a COCO keypoint-detection ground truth (images, annotations with bbox, area, iscrowd,
// keypoints [x, y, v] * K and num_keypoints, categories with keypoint names) and a results file (what
// `kprcnn predict --coco` writes: image_id, category_id, score, keypoints and/or bbox) and returns the stats of
// COCOeval(iouType="keypoints") and COCOeval(iouType="bbox") — the same definitions, the same order of floating
// point operations, the same tie rules (stable sorts by score), so that each stat equals pycocotools' (tested on
// generated cases to 1e-9). Stats pycocotools reports as -1 (no ground truth in that area range) are -1 here.
//
// What pycocotools does that is easy to miss, and is reproduced: a results file whose first entry has a bbox
// takes every result's area from its bbox (else from the keypoints' extent); a ground truth's "ignore" is its
// iscrowd (an explicit "ignore" field is overridden), and for keypoints also num_keypoints == 0; detections are
// cut at the largest maxDets per image and category before matching; crowd regions match any number of
// detections.
//
// Errors (kprcnn::Error): a file that cannot be read is kIo; malformed JSON, a missing or wrongly typed field, a
// keypoint array of the wrong length, NaN or negative sizes, duplicate ids, or a result for an image or category
// the ground truth does not have are kInvalidArgument, naming the entry.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace kprcnn {

struct CocoEvalOptions {
  // OKS sigmas, one per keypoint. Empty: the category's "kprcnn_oks_sigmas" (kprcnn synth writes them), else
  // COCO's 17 person sigmas when K = 17, else kDefaultOksSigma for every keypoint.
  std::vector<double> sigmas;
  double threshold = 0.8;  // the operating point: detections scoring above it (kprcnn predict's rule)
};

inline constexpr double kDefaultOksSigma = 0.05;

// What a user deploying at one threshold gets: detections above it matched greedily in score order to the
// unmatched ground truth (same image and category) of highest OKS, if OKS >= 0.5; crowd and unlabelled ground
// truth are never matched, and a detection that would match one counts neither way. Keypoint errors are over
// the matched pairs' labelled keypoints (v > 0); "relative" divides by the ground-truth box size sqrt(w * h), and
// PCK@a is the share within a times that size. -1 where undefined (no detections, no ground truth, no match).
struct OperatingPoint {
  double threshold = 0.8, precision = -1, recall = -1, f1 = -1;
  double mean_error_px = -1, mean_error_rel = -1, pck_005 = -1, pck_010 = -1;
  int matched = 0;
};

struct CocoEvalResult {
  // COCOeval.stats, in pycocotools' order.
  // keypoints: AP, AP50, AP75, APm, APl, AR, AR50, AR75, ARm, ARl (maxDets 20)
  std::array<double, 10> keypoints{};
  // bbox: AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl
  std::array<double, 12> bbox{};
  OperatingPoint operating_point;  // keypoints only
  std::vector<double> sigmas;      // the sigmas used
  std::string sigmas_source;       // "--sigmas", "kprcnn_oks_sigmas", "COCO person", "default"
  int images = 0;                  // ground-truth images
  int detections = 0;              // result entries
  int ground_truths = 0;           // ground-truth annotations
};

CocoEvalResult evaluate_coco(const std::filesystem::path& annotations, const std::filesystem::path& results,
                             const CocoEvalOptions& options = {});

// The same from JSON text already in memory (the file names are only used in messages).
CocoEvalResult evaluate_coco_json(const std::string& annotations_json, const std::string& results_json,
                                  const CocoEvalOptions& options = {}, const std::string& annotations_name = "GT",
                                  const std::string& results_name = "results");

// One entry of the ground truth's "images" list: what `kprcnn eval --images DIR --model M` runs the model on
// (DIR / file_name). width and height are 0 when the file does not give them.
struct CocoImage {
  std::int64_t id = 0;
  std::string file_name;
  int width = 0, height = 0;
};

// The ground truth's images, in file order, after the same checks evaluate_coco makes of the whole file (so a
// file that would be refused later is refused before any image is run). Also kInvalidArgument: an image without
// a "file_name", or two images with the same one.
std::vector<CocoImage> read_coco_images(const std::filesystem::path& annotations);
// The same from JSON text already in memory (the name is only used in messages).
std::vector<CocoImage> read_coco_images_json(const std::string& annotations_json,
                                             const std::string& annotations_name = "GT");

// {"keypoints": {"AP", "AP50", ...}, "bbox": {...}, "operating_point": {"threshold", "precision", "recall", "f1",
//  "mean_error_px", "mean_error_rel", "pck_0.05", "pck_0.1"}, "images": N, "detections": N}
std::string to_json(const CocoEvalResult& result);

}  // namespace kprcnn

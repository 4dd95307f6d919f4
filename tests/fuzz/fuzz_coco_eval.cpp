// The COCO readers and evaluator of `kprcnn eval` (evaluate_coco_json): a ground-truth file and a results file,
// the input split at its first NUL byte (no NUL: the whole input is the ground truth, scored against a fixed
// results list). Invariants: bad input is a kInvalidArgument error with a message (never another code, never a
// crash, hang or silently wrong number); a result has every stat in [0, 1] or -1, operating-point figures finite,
// counts that add up, and to_json writes an object.
#include <cmath>
#include <cstdint>
#include <string>

#include "fuzz_input.h"
#include "kprcnn/error.h"
#include "kprcnn/eval.h"

namespace {

bool stat_ok(double v) {
  return v == -1.0 || (v >= 0.0 && v <= 1.0);
}

constexpr const char* kFixedResults =
    R"([{"image_id":1,"category_id":1,"score":0.9,"keypoints":[10,10,2,20,10,2,15,20,2],"bbox":[5,5,20,20]},)"
    R"({"image_id":1,"category_id":1,"score":0.4,"keypoints":[50,50,2,60,50,2,55,60,2],"bbox":[45,45,20,20]}])";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace kprcnn;
  const std::string_view text = fuzz::as_text({data, size});
  const std::size_t split = text.find('\0');
  const std::string gt(text.substr(0, split));
  const std::string results = split == std::string_view::npos ? kFixedResults : std::string(text.substr(split + 1));
  CocoEvalOptions options;
  options.threshold = 0.5;
  CocoEvalResult r;
  try {
    r = evaluate_coco_json(gt, results, options);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kInvalidArgument) fuzz::fail("unexpected error code from evaluate_coco_json:", e.what());
    if (e.what()[0] == '\0') fuzz::fail("error without a message");
    return 0;
  }
  for (const double v : r.keypoints) {
    if (!stat_ok(v)) fuzz::fail("keypoint stat outside [0, 1] and not -1");
  }
  for (const double v : r.bbox) {
    if (!stat_ok(v)) fuzz::fail("bbox stat outside [0, 1] and not -1");
  }
  const OperatingPoint& op = r.operating_point;
  for (const double v : {op.precision, op.recall, op.f1, op.pck_005, op.pck_010}) {
    if (!stat_ok(v)) fuzz::fail("operating-point share outside [0, 1] and not -1");
  }
  if (!std::isfinite(op.mean_error_px) || !std::isfinite(op.mean_error_rel)) fuzz::fail("non-finite keypoint error");
  if (op.matched < 0 || op.matched > r.detections || op.matched > r.ground_truths) fuzz::fail("matched count");
  if (r.images < 0 || r.detections < 0 || r.ground_truths < 0) fuzz::fail("negative count");
  for (const double s : r.sigmas) {
    if (!(s > 0) || !std::isfinite(s)) fuzz::fail("sigma not positive");
  }
  const std::string json = to_json(r);
  if (json.empty() || json.front() != '{') fuzz::fail("to_json wrote no object");
  return 0;
}

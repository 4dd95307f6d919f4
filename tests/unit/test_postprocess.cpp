// Postprocessing: threshold, per-axis scaling, clamping, non-finite values (fault row 9), span checks.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "kprcnn/error.h"
#include "postprocess.h"

namespace kprcnn {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// Owns the five output buffers for N detections with K keypoints; fill, then view().
struct Outputs {
  std::size_t n, k;
  std::vector<float> boxes, scores, keypoints, keypoint_scores;
  std::vector<std::int64_t> labels;

  Outputs(std::size_t n_, std::size_t k_)
      : n(n_), k(k_), boxes(n_ * 4), scores(n_), keypoints(n_ * k_ * 3), keypoint_scores(n_ * k_), labels(n_, 1) {
    for (std::size_t i = 0; i < n; ++i) {
      set_box(i, 10, 20, 30, 40);
      scores[i] = 0.9f;
      for (std::size_t j = 0; j < k; ++j) set_keypoint(i, j, 10.0f + j, 20.0f + j, 1.5f + j);
    }
  }
  void set_box(std::size_t i, float x1, float y1, float x2, float y2) {
    boxes[i * 4] = x1;
    boxes[i * 4 + 1] = y1;
    boxes[i * 4 + 2] = x2;
    boxes[i * 4 + 3] = y2;
  }
  void set_keypoint(std::size_t i, std::size_t j, float x, float y, float score, float visibility = 1.0f) {
    keypoints[(i * k + j) * 3] = x;
    keypoints[(i * k + j) * 3 + 1] = y;
    keypoints[(i * k + j) * 3 + 2] = visibility;
    keypoint_scores[i * k + j] = score;
  }
  RawOutputs view() const { return {n, k, boxes, labels, scores, keypoints, keypoint_scores}; }
};

PostprocessParams same_size(int w = 100, int h = 100, float threshold = 0.5f) {
  PostprocessParams p;
  p.threshold = threshold;
  p.input_width = p.image_width = w;
  p.input_height = p.image_height = h;
  return p;
}

TEST(PostprocessThreshold, IsStrict) {
  Outputs o(3, 1);
  o.scores = {0.8f, 0.80001f, 0.79f};
  PostprocessParams p = same_size();
  p.threshold = 0.8f;
  const auto d = postprocess(o.view(), p);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].score, 0.80001f);
}

TEST(PostprocessThreshold, NoDetectionsIsEmptySuccess) {
  Outputs o(0, 17);
  EXPECT_TRUE(postprocess(o.view(), same_size()).empty());
  Outputs none_pass(2, 17);
  none_pass.scores = {0.1f, 0.2f};
  EXPECT_TRUE(postprocess(none_pass.view(), same_size()).empty());
}

TEST(PostprocessScale, PerAxisSourceOverInput) {
  Outputs o(1, 2);
  o.set_box(0, 10, 20, 30, 40);
  o.set_keypoint(0, 0, 50, 60, 3.25f);
  o.set_keypoint(0, 1, 0.5f, 1.0f, -2.0f, /*visibility*/ 0.0f);
  PostprocessParams p;
  p.threshold = 0.5f;
  p.input_width = 682;
  p.input_height = 512;
  p.image_width = 4032;
  p.image_height = 3024;
  const auto d = postprocess(o.view(), p);
  ASSERT_EQ(d.size(), 1u);
  const double sx = 4032.0 / 682, sy = 3024.0 / 512;
  EXPECT_FLOAT_EQ(d[0].box.x1, static_cast<float>(10 * sx));
  EXPECT_FLOAT_EQ(d[0].box.y1, static_cast<float>(20 * sy));
  EXPECT_FLOAT_EQ(d[0].box.x2, static_cast<float>(30 * sx));
  EXPECT_FLOAT_EQ(d[0].box.y2, static_cast<float>(40 * sy));
  ASSERT_EQ(d[0].keypoints.size(), 2u);
  EXPECT_FLOAT_EQ(d[0].keypoints[0].x, static_cast<float>(50 * sx));
  EXPECT_FLOAT_EQ(d[0].keypoints[0].y, static_cast<float>(60 * sy));
  EXPECT_EQ(d[0].keypoints[0].score, 3.25f);  // keypoints_scores, unchanged
  EXPECT_EQ(d[0].keypoints[1].score, -2.0f);  // visibility 0 is ignored: the keypoint is still reported
  EXPECT_FLOAT_EQ(d[0].keypoints[1].x, static_cast<float>(0.5 * sx));
  EXPECT_EQ(d[0].label, 1);
}

TEST(PostprocessClamp, BoxesAndKeypointsStayInTheImage) {
  Outputs o(1, 3);
  o.set_box(0, -5, -1e30f, 1e30f, 150);
  o.set_keypoint(0, 0, -3, 200, 1);
  o.set_keypoint(0, 1, 3e38f, -3e38f, 1);  // huge but finite: clamped, not dropped
  o.set_keypoint(0, 2, 100, 100, 1);       // exactly on the far edge: kept
  PostprocessParams p = same_size(100, 100);
  p.image_width = 200;  // scale x by 2
  const auto d = postprocess(o.view(), p);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].box.x1, 0.0f);
  EXPECT_EQ(d[0].box.y1, 0.0f);
  EXPECT_EQ(d[0].box.x2, 200.0f);
  EXPECT_EQ(d[0].box.y2, 100.0f);
  EXPECT_EQ(d[0].keypoints[0].x, 0.0f);
  EXPECT_EQ(d[0].keypoints[0].y, 100.0f);
  EXPECT_EQ(d[0].keypoints[1].x, 200.0f);
  EXPECT_EQ(d[0].keypoints[1].y, 0.0f);
  EXPECT_EQ(d[0].keypoints[2].x, 200.0f);
  EXPECT_EQ(d[0].keypoints[2].y, 100.0f);
}

TEST(PostprocessNonFinite, DetectionWithNanOrInfIsDropped) {
  const float bad[] = {kNaN, kInf, -kInf};
  for (const float v : bad) {
    for (int where = 0; where < 5; ++where) {
      Outputs o(2, 2);
      o.scores = {0.9f, 0.95f};
      switch (where) {
        case 0: o.scores[1] = v; break;
        case 1: o.boxes[4 + 2] = v; break;
        case 2: o.keypoints[(1 * 2 + 1) * 3] = v; break;      // x
        case 3: o.keypoints[(1 * 2 + 0) * 3 + 1] = v; break;  // y
        case 4: o.keypoint_scores[1 * 2 + 1] = v; break;
      }
      const auto d = postprocess(o.view(), same_size());
      ASSERT_EQ(d.size(), 1u) << "value " << v << " at " << where;
      EXPECT_EQ(d[0].score, 0.9f);
      for (const Keypoint& kp : d[0].keypoints) {
        EXPECT_TRUE(std::isfinite(kp.x) && std::isfinite(kp.y) && std::isfinite(kp.score));
      }
    }
  }
}

TEST(PostprocessNonFinite, NanVisibilityIsIgnored) {
  Outputs o(1, 1);
  o.set_keypoint(0, 0, 5, 5, 1, kNaN);
  EXPECT_EQ(postprocess(o.view(), same_size()).size(), 1u);
}

TEST(PostprocessOrder, SortedByScoreDescendingStable) {
  Outputs o(5, 1);
  o.scores = {0.6f, 0.9f, 0.7f, 0.9f, 0.95f};
  o.labels = {1, 2, 3, 4, 5};
  const auto d = postprocess(o.view(), same_size());
  ASSERT_EQ(d.size(), 5u);
  const std::int64_t expected[] = {5, 2, 4, 3, 1};  // the two 0.9s keep their order
  for (int i = 0; i < 5; ++i) EXPECT_EQ(d[i].label, expected[i]);
}

void expect_inference_error(const RawOutputs& raw, const std::string& output) {
  try {
    postprocess(raw, same_size());
    ADD_FAILURE() << "no error for " << output;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInference);
    EXPECT_NE(std::string(e.what()).find("'" + output + "'"), std::string::npos) << e.what();
  }
}

TEST(PostprocessSpans, SizeMismatchNamesTheOutput) {
  Outputs o(2, 3);
  RawOutputs raw = o.view();
  raw.boxes = raw.boxes.first(7);
  expect_inference_error(raw, "boxes");
  raw = o.view();
  raw.labels = raw.labels.first(1);
  expect_inference_error(raw, "labels");
  raw = o.view();
  raw.scores = raw.scores.first(1);
  expect_inference_error(raw, "scores");
  raw = o.view();
  raw.k = 4;  // K mismatch: keypoints has 2*3*3 values, not 2*4*3
  expect_inference_error(raw, "keypoints");
  raw = o.view();
  raw.keypoint_scores = raw.keypoint_scores.first(5);
  expect_inference_error(raw, "keypoints_scores");
  raw = o.view();
  raw.n = std::numeric_limits<std::size_t>::max() / 2;  // products overflow: still an error, not a wrap
  expect_inference_error(raw, "boxes");
}

TEST(PostprocessArguments, RejectsBadSizesAndNanThreshold) {
  Outputs o(1, 1);
  PostprocessParams p = same_size();
  p.input_width = 0;
  EXPECT_THROW(postprocess(o.view(), p), Error);
  p = same_size();
  p.image_height = -1;
  EXPECT_THROW(postprocess(o.view(), p), Error);
  p = same_size();
  p.threshold = kNaN;
  EXPECT_THROW(postprocess(o.view(), p), Error);
}

}  // namespace
}  // namespace kprcnn

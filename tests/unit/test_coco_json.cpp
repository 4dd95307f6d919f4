// to_coco_json: the COCO keypoint-results writer (`kprcnn predict --coco`).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "kprcnn/json.h"

namespace kprcnn {
namespace {

Detection detection(std::int64_t label, float score) {
  Detection d;
  d.label = label;
  d.score = score;
  d.box = {10.5f, 20.0f, 40.5f, 80.0f};
  d.keypoints = {{11.0f, 21.0f, 3.0f}, {12.5f, 22.5f, -1.0f}};
  return d;
}

TEST(CocoJson, OneEntryPerDetectionInImageOrder) {
  const std::vector<CocoImageResult> images = {
      {397133, {detection(1, 0.9f), detection(2, 0.8f)}}, {7, {}}, {139, {detection(1, 0.1f)}}};
  const auto doc = nlohmann::json::parse(to_coco_json(images));
  ASSERT_TRUE(doc.is_array());
  ASSERT_EQ(doc.size(), 3u);
  EXPECT_EQ(doc[0]["image_id"], 397133);
  EXPECT_EQ(doc[1]["category_id"], 2);
  EXPECT_EQ(doc[2]["image_id"], 139);
  const auto& first = doc[0];
  EXPECT_DOUBLE_EQ(first["score"].get<double>(), 0.9);
  EXPECT_EQ(first["keypoints"], nlohmann::json({11.0, 21.0, 2, 12.5, 22.5, 2}));
  EXPECT_EQ(first["bbox"], nlohmann::json({10.5, 20.0, 30.0, 60.0}));  // x, y, width, height
}

TEST(CocoJson, EmptyRunIsAnEmptyList) {
  EXPECT_EQ(to_coco_json({}), "[]");
  EXPECT_EQ(to_coco_json({{1, {}}}), "[]");
}

}  // namespace
}  // namespace kprcnn

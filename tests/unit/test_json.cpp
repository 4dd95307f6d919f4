// The result writer (to_json) and the colormap reader.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "kprcnn/error.h"
#include "kprcnn/json.h"

namespace kprcnn {
namespace {

Prediction sample_prediction() {
  Prediction p;
  p.width = 640;
  p.height = 480;
  Detection a;
  a.label = 1;
  a.score = 0.975f;
  a.box = {1.5f, 2.25f, 300.125f, 470.0f};
  a.keypoints = {{10.5f, 20.25f, 3.5f}, {0.0f, 480.0f, -1.25f}};
  Detection b;
  b.label = 2;
  b.score = 0.81f;
  b.box = {0.1f, 0.2f, 0.3f, 0.4f};
  b.keypoints = {{1.0f, 2.0f, 0.5f}, {3.0f, 4.0f, 0.25f}};
  p.detections = {a, b};
  return p;
}

TEST(JsonWrite, RoundTripsEveryField) {
  const Prediction p = sample_prediction();
  const std::vector<KeypointInfo> names = {{"nose", {255, 0, 0}}, {"tail", {0, 255, 0}}};
  const auto doc = nlohmann::json::parse(to_json(p, names, "dir/cat.jpg", "kprcnn-cats"));
  EXPECT_EQ(doc["image"], "dir/cat.jpg");
  EXPECT_EQ(doc["model"], "kprcnn-cats");
  EXPECT_EQ(doc["width"], 640);
  EXPECT_EQ(doc["height"], 480);
  ASSERT_EQ(doc["detections"].size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    const Detection& d = p.detections[i];
    const auto& j = doc["detections"][i];
    EXPECT_EQ(j["label"].get<std::int64_t>(), d.label);
    EXPECT_EQ(j["score"].get<float>(), d.score);  // the float read back is the same float
    ASSERT_EQ(j["box"].size(), 4u);
    EXPECT_EQ(j["box"][0].get<float>(), d.box.x1);
    EXPECT_EQ(j["box"][1].get<float>(), d.box.y1);
    EXPECT_EQ(j["box"][2].get<float>(), d.box.x2);
    EXPECT_EQ(j["box"][3].get<float>(), d.box.y2);
    ASSERT_EQ(j["keypoints"].size(), 2u);
    for (std::size_t k = 0; k < 2; ++k) {
      EXPECT_EQ(j["keypoints"][k]["name"], names[k].name);
      EXPECT_EQ(j["keypoints"][k]["x"].get<float>(), d.keypoints[k].x);
      EXPECT_EQ(j["keypoints"][k]["y"].get<float>(), d.keypoints[k].y);
      EXPECT_EQ(j["keypoints"][k]["score"].get<float>(), d.keypoints[k].score);
    }
  }
}

TEST(JsonWrite, KeyOrderAndShortestNumbers) {
  Prediction p = sample_prediction();
  p.detections.resize(1);
  const std::string text = to_json(p, {{"nose", {}}, {"tail", {}}}, "a.jpg", "m", -1);
  EXPECT_EQ(text.find('\n'), std::string::npos);  // indent < 0: one line
  EXPECT_LT(text.find("\"image\""), text.find("\"width\""));
  EXPECT_LT(text.find("\"height\""), text.find("\"model\""));
  EXPECT_LT(text.find("\"model\""), text.find("\"detections\""));
  EXPECT_NE(text.find("\"score\":0.975"), std::string::npos) << text;  // not 0.9750000238418579
  const std::string pretty = to_json(p, {}, "a.jpg", "m");
  EXPECT_NE(pretty.find("\n  \"width\": 640"), std::string::npos) << pretty;
}

TEST(JsonWrite, MissingNamesFallBackToIndex) {
  Prediction p = sample_prediction();
  const auto doc = nlohmann::json::parse(to_json(p, {{"nose", {}}}, "x", "m"));
  EXPECT_EQ(doc["detections"][0]["keypoints"][0]["name"], "nose");
  EXPECT_EQ(doc["detections"][0]["keypoints"][1]["name"], "kp1");
}

TEST(JsonWrite, NonFiniteBecomesNullNeverNan) {
  Prediction p = sample_prediction();
  p.detections[0].score = std::numeric_limits<float>::quiet_NaN();
  p.detections[0].box.x2 = std::numeric_limits<float>::infinity();
  p.detections[1].keypoints[0].y = -std::numeric_limits<float>::infinity();
  const std::string text = to_json(p, {}, "x", "m");
  for (const char* bad : {"nan", "NaN", "inf", "Infinity"}) EXPECT_EQ(text.find(bad), std::string::npos) << text;
  const auto doc = nlohmann::json::parse(text);  // still valid JSON
  EXPECT_TRUE(doc["detections"][0]["score"].is_null());
  EXPECT_TRUE(doc["detections"][0]["box"][2].is_null());
  EXPECT_TRUE(doc["detections"][1]["keypoints"][0]["y"].is_null());
}

TEST(JsonWrite, EmptyDetectionsAndOddNames) {
  Prediction p;
  p.width = 1;
  p.height = 1;
  const std::string bad_utf8 = std::string("photo\xff\xfe.jpg");
  const auto doc = nlohmann::json::parse(to_json(p, {}, bad_utf8, "quote\"and\\slash"));
  EXPECT_TRUE(doc["detections"].is_array());
  EXPECT_TRUE(doc["detections"].empty());
  EXPECT_EQ(doc["model"], "quote\"and\\slash");
  EXPECT_EQ(doc["image"].get<std::string>().rfind("photo", 0), 0u);  // invalid bytes replaced, not thrown
}

// ---------------------------------------------------------------------------------------------------------------

TEST(ColormapParse, ReadsItemsColoursAndSkeleton) {
  const Colormap map = parse_colormap(R"({
    "items": [
      {"label": "nose", "color": [1, 0, 0]},
      {"label": "left_eye", "color": [0.5, 0.25, 0.0039]},
      {"label": "right_eye", "color": [0, 0.999, 1.0]}
    ],
    "skeleton": [["nose", "left_eye"], ["nose", "right_eye"]]
  })");
  ASSERT_EQ(map.keypoints.size(), 3u);
  EXPECT_EQ(map.keypoints[0].name, "nose");
  EXPECT_EQ(map.keypoints[0].color, (Rgb{255, 0, 0}));
  EXPECT_EQ(map.keypoints[1].color, (Rgb{128, 64, 1}));  // round(c * 255)
  EXPECT_EQ(map.keypoints[2].color, (Rgb{0, 255, 255}));
  ASSERT_EQ(map.skeleton.size(), 2u);
  EXPECT_EQ(map.skeleton[0], (std::pair{0, 1}));
  EXPECT_EQ(map.skeleton[1], (std::pair{0, 2}));
}

TEST(ColormapParse, SkeletonIsOptional) {
  const Colormap map = parse_colormap(R"({"items": [{"label": "a", "color": [0, 0, 0]}], "extra": 1})");
  EXPECT_EQ(map.keypoints.size(), 1u);
  EXPECT_TRUE(map.skeleton.empty());
}

void expect_colormap_error(const std::string& text, const std::string& fragment) {
  try {
    parse_colormap(text);
    ADD_FAILURE() << "no error for " << text;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kColormap);
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << "message: " << e.what();
  }
}

TEST(ColormapParse, ErrorsNameTheProblem) {
  expect_colormap_error("", "not valid JSON");
  expect_colormap_error(R"({"items": [)", "not valid JSON (at byte");
  expect_colormap_error("[1, 2]", "must be a JSON object");
  expect_colormap_error(R"({"labels": []})", "no \"items\"");
  expect_colormap_error(R"({"items": {}})", "no \"items\"");
  expect_colormap_error(R"({"items": []})", "empty");
  expect_colormap_error(R"({"items": [3]})", "item 0 must be an object");
  expect_colormap_error(R"({"items": [{"color": [0, 0, 0]}]})", "\"label\" must be a string");
  expect_colormap_error(R"({"items": [{"label": 7, "color": [0, 0, 0]}]})", "\"label\" must be a string");
  expect_colormap_error(R"({"items": [{"label": "", "color": [0, 0, 0]}]})", "empty");
  expect_colormap_error(R"({"items": [{"label": "a"}]})", "no \"color\"");
  expect_colormap_error(R"({"items": [{"label": "a", "color": [0, 0]}]})", "3 numbers");
  expect_colormap_error(R"({"items": [{"label": "a", "color": [0, 0, "1"]}]})", "3 numbers");
  expect_colormap_error(R"({"items": [{"label": "a", "color": [0, 0, 0, 1]}]})", "3 numbers");
  expect_colormap_error(R"({"items": [{"label": "a", "color": [0, 0, 255]}]})", "in 0..1");
  expect_colormap_error(R"({"items": [{"label": "a", "color": [-0.1, 0, 0]}]})", "in 0..1");
  expect_colormap_error(R"({"items": [{"label": "a", "color": [0, 0, 0]}, {"label": "a", "color": [1, 1, 1]}]})",
                        "label \"a\" appears twice");
  expect_colormap_error(R"({"items": [{"label": "a", "color": [0, 0, 0]}], "skeleton": [["a", "b"]]})",
                        "unknown label \"b\"");
  expect_colormap_error(R"({"items": [{"label": "a", "color": [0, 0, 0]}], "skeleton": [["a"]]})", "pair of labels");
  expect_colormap_error(R"({"items": [{"label": "a", "color": [0, 0, 0]}], "skeleton": {}})", "\"skeleton\"");
}

TEST(ColormapRead, FileErrorsNameThePath) {
  const std::filesystem::path dir = std::filesystem::path(KPRCNN_TEST_TMP_DIR) / "json";
  std::filesystem::create_directories(dir);
  const auto missing = dir / "missing-colormap.json";
  std::filesystem::remove(missing);
  try {
    read_colormap(missing);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
    EXPECT_NE(std::string(e.what()).find(missing.string()), std::string::npos) << e.what();
  }
  try {
    read_colormap(dir);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
  }
  const auto bad = dir / "bad-colormap.json";
  std::ofstream(bad) << R"({"items": [{"label": "a", "color": [2, 0, 0]}]})";
  try {
    read_colormap(bad);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kColormap);
    EXPECT_NE(std::string(e.what()).find(bad.string()), std::string::npos) << e.what();
  }
  const auto good = dir / "good-colormap.json";
  std::ofstream(good) << R"({"items": [{"label": "a", "color": [0, 0.2, 1]}]})";
  const Colormap map = read_colormap(good);
  ASSERT_EQ(map.keypoints.size(), 1u);
  EXPECT_EQ(map.keypoints[0].color, (Rgb{0, 51, 255}));
}

}  // namespace
}  // namespace kprcnn

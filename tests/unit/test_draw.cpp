// Drawing: property tests in the style of ncnn's drawing test (transposition, symmetry, area, clipping), no goldens.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>
#include <vector>

#include "kprcnn/draw.h"

namespace kprcnn {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr Rgb kWhite{255, 255, 255};

Image make_image(int w, int h, std::uint8_t fill = 0) {
  Image image;
  image.width = w;
  image.height = h;
  image.pixels.assign(static_cast<std::size_t>(w) * h * 3, fill);
  return image;
}

Image random_image(int w, int h, std::uint32_t seed) {
  Image image = make_image(w, h);
  for (auto& v : image.pixels) {
    seed = seed * 1664525u + 1013904223u;
    v = static_cast<std::uint8_t>(seed >> 24);
  }
  return image;
}

Image transposed(const Image& src) {
  Image out = make_image(src.height, src.width);
  for (int y = 0; y < src.height; ++y) {
    for (int x = 0; x < src.width; ++x) {
      for (int c = 0; c < 3; ++c) out.row(x)[y * 3 + c] = src.row(y)[x * 3 + c];
    }
  }
  return out;
}

int at(const Image& image, int x, int y, int c = 0) {
  return image.row(y)[x * 3 + c];
}

double coverage_sum(const Image& image) {  // white on black: total alpha in pixels
  double sum = 0;
  for (std::size_t i = 0; i < image.pixels.size(); i += 3) sum += image.pixels[i] / 255.0;
  return sum;
}

TEST(DrawProperties, TransposedDrawingIsTransposed) {
  const Image base = random_image(37, 23, 5);
  const Rgb color{250, 10, 120};
  struct Circle {
    float cx, cy, r;
  };
  for (const Circle c : {Circle{10.3f, 7.7f, 4.2f}, Circle{0.0f, 22.5f, 9.0f}, Circle{36.9f, -2.0f, 5.5f},
                         Circle{18.5f, 11.5f, 0.4f}, Circle{5.0f, 5.0f, 100.0f}}) {
    Image a = base, b = transposed(base);
    draw_circle(a, c.cx, c.cy, c.r, color, 0.8f);
    draw_circle(b, c.cy, c.cx, c.r, color, 0.8f);
    EXPECT_EQ(transposed(a).pixels, b.pixels) << "circle " << c.cx << "," << c.cy << " r " << c.r;
  }
  {
    Image a = base, b = transposed(base);
    draw_line(a, 2.5f, 3.25f, 30.0f, 19.0f, 3.0f, color);
    draw_line(b, 3.25f, 2.5f, 19.0f, 30.0f, 3.0f, color);
    EXPECT_EQ(transposed(a).pixels, b.pixels) << "line";
  }
  {
    Image a = base, b = transposed(base);
    draw_rect(a, {3.2f, 4.7f, 30.1f, 15.0f}, 2.5f, color, 0.6f);
    draw_rect(b, {4.7f, 3.2f, 15.0f, 30.1f}, 2.5f, color, 0.6f);
    EXPECT_EQ(transposed(a).pixels, b.pixels) << "rect";
  }
  {
    Detection d;
    d.box = {4, 5, 30, 20};
    d.keypoints = {{6.5f, 7.0f, 1}, {25.0f, 18.5f, 1}, {15.0f, 3.0f, 1}};
    Detection t = d;
    t.box = {5, 4, 20, 30};
    for (auto& k : t.keypoints) std::swap(k.x, k.y);
    const std::vector<KeypointInfo> names = {{"a", {255, 0, 0}}, {"b", {0, 255, 0}}, {"c", {0, 0, 255}}};
    DrawOptions options;
    options.boxes = true;
    Image a = base, b = transposed(base);
    draw_detections(a, {d}, names, options, {{0, 1}, {1, 2}});
    draw_detections(b, {t}, names, options, {{0, 1}, {1, 2}});
    EXPECT_EQ(transposed(a).pixels, b.pixels) << "detections";
  }
}

TEST(DrawProperties, CircleOnPixelCentreIsSymmetric) {
  Image image = make_image(41, 41);
  draw_circle(image, 20.5f, 20.5f, 7.3f, kWhite);
  for (int y = 0; y < 41; ++y) {
    for (int x = 0; x < 41; ++x) {
      ASSERT_EQ(at(image, x, y), at(image, 40 - x, y)) << x << "," << y;
      ASSERT_EQ(at(image, x, y), at(image, x, 40 - y)) << x << "," << y;
      ASSERT_EQ(at(image, x, y), at(image, y, x)) << x << "," << y;
    }
  }
  EXPECT_EQ(at(image, 20, 20), 255);
  EXPECT_EQ(at(image, 20, 28), 0);  // centre 20.5, radius 7.3: pixel 28 spans 28..29, outside
  EXPECT_GT(at(image, 20, 27), 0);  // the edge pixel is partly covered
  EXPECT_LT(at(image, 20, 27), 255);
}

TEST(DrawProperties, CircleAreaIsPiRSquared) {
  for (const float r : {0.7f, 1.5f, 3.0f, 10.25f, 40.0f}) {
    Image image = make_image(100, 100);
    draw_circle(image, 50.2f, 49.7f, r, kWhite);
    const double area = std::numbers::pi * r * r;
    EXPECT_NEAR(coverage_sum(image), area, 0.01 * area + 0.15) << "r " << r;
  }
}

TEST(DrawProperties, LineAndRectAreas) {
  Image line = make_image(100, 60);
  draw_line(line, 10.0f, 30.0f, 90.0f, 30.0f, 4.0f, kWhite);  // 80 x 4 plus two half discs
  const double expected = 80.0 * 4.0 + std::numbers::pi * 4.0;
  EXPECT_NEAR(coverage_sum(line), expected, 0.01 * expected);

  Image rect = make_image(40, 40);
  draw_rect(rect, {10, 10, 20, 20}, 2.0f, kWhite);  // stroke centred on the edges: 12x12 minus 8x8
  EXPECT_NEAR(coverage_sum(rect), 144.0 - 64.0, 1e-9);
  EXPECT_EQ(at(rect, 9, 15), 255);
  EXPECT_EQ(at(rect, 11, 15), 0);
}

TEST(DrawClipping, PartlyAndFullyOutside) {
  Image image = make_image(20, 10);
  draw_circle(image, -2.0f, 5.0f, 4.0f, kWhite);  // left part outside
  EXPECT_GT(at(image, 0, 5), 0);
  EXPECT_EQ(at(image, 3, 5), 0);
  const Image before = image;
  draw_circle(image, -50.0f, 5.0f, 4.0f, kWhite);
  draw_circle(image, 5.0f, 1e9f, 4.0f, kWhite);
  draw_line(image, -100.0f, -100.0f, -50.0f, -3.0f, 5.0f, kWhite);
  draw_rect(image, {100, 100, 200, 200}, 3.0f, kWhite);
  EXPECT_EQ(image.pixels, before.pixels);
}

TEST(DrawClipping, HugeRadiusCostsNoMoreThanTheImage) {
  Image image = make_image(64, 48);
  const auto start = std::chrono::steady_clock::now();
  draw_circle(image, 10.0f, 10.0f, 1e30f, kWhite);
  draw_line(image, -1e30f, 0.0f, 1e30f, 1.0f, 1e20f, kWhite);
  draw_rect(image, {-1e30f, -1e30f, 1e30f, 1e30f}, 5.0f, kWhite);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));  // would be forever otherwise
  for (const std::uint8_t v : image.pixels) ASSERT_EQ(v, 255);
}

TEST(DrawClipping, NanAndNonPositiveSizesDrawNothing) {
  Image image = make_image(16, 16, 7);
  const Image before = image;
  draw_circle(image, kNaN, 5.0f, 3.0f, kWhite);
  draw_circle(image, 5.0f, 5.0f, kNaN, kWhite);
  draw_circle(image, 5.0f, 5.0f, 0.0f, kWhite);
  draw_circle(image, 5.0f, 5.0f, -3.0f, kWhite);
  draw_circle(image, 5.0f, 5.0f, std::numeric_limits<float>::infinity(), kWhite);
  draw_circle(image, 5.0f, 5.0f, 3.0f, kWhite, 0.0f);
  draw_circle(image, 5.0f, 5.0f, 3.0f, kWhite, kNaN);
  draw_line(image, 1.0f, kNaN, 10.0f, 10.0f, 2.0f, kWhite);
  draw_line(image, 1.0f, 1.0f, 10.0f, 10.0f, 0.0f, kWhite);
  draw_rect(image, {kNaN, 1, 5, 5}, 2.0f, kWhite);
  draw_rect(image, {1, 1, 5, 5}, -1.0f, kWhite);
  Image empty;
  draw_circle(empty, 0, 0, 5, kWhite);
  draw_detections(empty, {}, {});
  EXPECT_EQ(image.pixels, before.pixels);
}

TEST(DrawBlend, OpacityMixes) {
  Image image = make_image(20, 20, 100);
  draw_circle(image, 10.0f, 10.0f, 5.0f, Rgb{200, 0, 100}, 0.5f);
  EXPECT_EQ(at(image, 10, 10, 0), 150);
  EXPECT_EQ(at(image, 10, 10, 1), 50);
  EXPECT_EQ(at(image, 10, 10, 2), 100);
  EXPECT_EQ(at(image, 0, 0, 0), 100);
}

TEST(DrawDetections, DefaultRadiusLayersAndColours) {
  Image image = make_image(1000, 500);  // default radius: max(2, 500 / 100) = 5, line width 2.5
  Detection d;
  d.box = {100, 100, 400, 400};
  d.keypoints = {{200, 200, 1}, {300, 200, 1}};
  const std::vector<KeypointInfo> names = {{"a", {255, 0, 0}}, {"b", {0, 0, 255}}};
  DrawOptions options;
  options.boxes = true;
  draw_detections(image, {d}, names, options, {{0, 1}});
  EXPECT_EQ(at(image, 200, 200, 0), 255);  // dot over the line: the keypoint's colour
  EXPECT_EQ(at(image, 200, 200, 2), 0);
  EXPECT_EQ(at(image, 203, 200, 0), 255);  // inside the radius-5 dot
  EXPECT_EQ(at(image, 200, 206, 0), 0);    // outside it (and off the line)
  EXPECT_EQ(at(image, 250, 200, 0), 128);  // the skeleton line: mean of the two colours
  EXPECT_EQ(at(image, 250, 200, 2), 128);
  EXPECT_EQ(at(image, 100, 250, 0), 255);  // box outline in the first keypoint's colour
  EXPECT_EQ(at(image, 250, 250, 0), 0);    // box interior untouched

  Image small = make_image(120, 80);  // shorter side 80: radius max(2, 0.8) = 2
  Detection s;
  s.keypoints = {{60, 40, 1}, {kNaN, 3, 1}};  // NaN keypoint skipped, no crash
  draw_detections(small, {s}, {}, {});        // no metadata: fallback colours
  EXPECT_GT(at(small, 61, 40, 0), 0);
  EXPECT_EQ(at(small, 63, 40, 0), 0);

  Image explicit_radius = make_image(100, 100);
  DrawOptions big;
  big.radius = 10;
  big.skeleton = false;
  draw_detections(explicit_radius, {d}, names, big, {{0, 1}, {5, -1}});  // bad pairs ignored
  EXPECT_EQ(at(explicit_radius, 50, 50, 0), 0);
}

}  // namespace
}  // namespace kprcnn

// Preprocessing: the recipe's resize plan, Pillow-exact bicubic resize, ToTensor.
//
// The Pillow reference values below were made once with Pillow 9.4 (numpy 1.24):
//   pattern(w, h)[y, x, c] = (x*x*7 + y*13 + x*y*3 + c*101 + ((x ^ y) & 15) * 9) & 255   (uint8 RGB)
//   ref = np.asarray(Image.fromarray(pattern(w, h)).resize((W, H)))   # default filter: BICUBIC
// Small cases list every byte; larger ones the 64-bit FNV-1a hash of ref.tobytes() and three sample values.
// tests/python/test_resize_vs_pillow.py compares many more sizes against Pillow itself.
#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <vector>

#include "kprcnn/error.h"
#include "preprocess.h"

namespace kprcnn {
namespace {

Image make_image(int w, int h) {
  Image image;
  image.width = w;
  image.height = h;
  image.pixels.resize(static_cast<std::size_t>(w) * h * 3);
  return image;
}

Image pattern(int w, int h) {
  Image image = make_image(w, h);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      for (int c = 0; c < 3; ++c) {
        const std::int64_t v = static_cast<std::int64_t>(x) * x * 7 + y * 13 + static_cast<std::int64_t>(x) * y * 3 +
                               c * 101 + ((x ^ y) & 15) * 9;
        image.row(y)[x * 3 + c] = static_cast<std::uint8_t>(v & 255);
      }
    }
  }
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

std::uint64_t fnv1a(const std::vector<std::uint8_t>& bytes) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const std::uint8_t b : bytes) {
    h ^= b;
    h *= 0x100000001b3ull;
  }
  return h;
}

int pixel(const Image& image, int x, int y, int c) {
  return image.row(y)[x * 3 + c];
}

// ---------------------------------------------------------------------------------------------------------------
// plan_resize

struct PlanCase {
  int w, h, target, divisor;
  Size expected;
};

// Expected values from the recipe's Python (numpy argmin/argmax, float division, int()).
TEST(PreprocessPlan, MatchesRecipeFormula) {
  const PlanCase cases[] = {
      {640, 480, 512, 1, {682, 512}},
      {480, 640, 512, 1, {512, 682}},
      {512, 512, 512, 1, {512, 512}},
      {7, 7, 800, 1, {799, 800}},
      {9, 9, 224, 1, {223, 224}},
      {4032, 3024, 512, 1, {682, 512}},
      {3024, 4032, 512, 32, {512, 672}},
      {1000, 999, 512, 32, {512, 512}},
      {999, 1000, 800, 32, {800, 800}},
      {1, 1, 512, 1, {512, 512}},
      {1, 3, 5, 1, {5, 15}},
      {333, 777, 300, 7, {294, 693}},
      {1920, 1080, 800, 0, {1422, 800}},
      {1920, 1080, 800, -5, {1422, 800}},
  };
  for (const PlanCase& c : cases) {
    EXPECT_EQ(plan_resize(c.w, c.h, c.target, c.divisor), c.expected)
        << c.w << "x" << c.h << " target " << c.target << " divisor " << c.divisor;
  }
}

TEST(PreprocessPlan, SquareTieFollowsNumpyArgmin) {
  // Both inserts land at index 0: [int(w / (w / t)), t]; 7 / (7 / 800) is 799.99... in doubles.
  EXPECT_EQ(plan_resize(7, 7, 800), (Size{799, 800}));
  EXPECT_EQ(plan_resize(100, 100, 512), (Size{512, 512}));
}

void expect_invalid(int w, int h, int target, int divisor, const char* fragment) {
  try {
    plan_resize(w, h, target, divisor);
    ADD_FAILURE() << "no error for " << w << "x" << h << " target " << target << " divisor " << divisor;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(PreprocessPlan, RejectsBadInputsClearly) {
  expect_invalid(0, 10, 512, 1, "empty image");
  expect_invalid(10, 0, 512, 1, "empty image");
  expect_invalid(-3, 10, 512, 1, "empty image");
  expect_invalid(10, 10, 0, 1, "at least 1");
  expect_invalid(10, 20, 16, 32, "divisor");  // 16 rounds down to 0
  // 1 x 10000 at 512 would be 512 x 5,120,000 (2.6 G pixels): refused, not allocated.
  expect_invalid(1, 10000, 512, 1, "64 Mpx");
  expect_invalid(10000, 1, 512, 1, "too elongated");
  expect_invalid(1, 2'000'000'000, 512, 1, "64 Mpx");  // the longer side would overflow int
}

TEST(PreprocessPlan, OnePixelImageIsFine) {
  EXPECT_EQ(plan_resize(1, 1, 512, 32), (Size{512, 512}));
}

// ---------------------------------------------------------------------------------------------------------------
// resize_bicubic against Pillow

struct FullCase {
  int w, h, out_w, out_h;
  std::vector<std::uint8_t> expected;
};

TEST(PreprocessResize, MatchesPillowBytes) {
  const FullCase cases[] = {
      {7, 5, 3, 4, {13, 116, 219, 104, 180, 105, 156, 128, 168, 37,  147, 153, 123, 144, 72,  144, 120, 137,
                    63, 174, 40,  139, 176, 87,  110, 164, 103, 104, 169, 44,  185, 71,  140, 115, 168, 146}},
      {4, 3, 11, 9, {0,   96,  197, 0,   99,  200, 2,   103, 203, 10,  111, 210, 18,  119, 225, 27,  128, 255, 38,  139,
                     255, 54,  155, 230, 73,  174, 123, 88,  189, 40,  94,  195, 10,  0,   99,  200, 0,   101, 202, 4,
                     105, 206, 11,  112, 213, 19,  120, 223, 29,  130, 247, 41,  142, 255, 57,  158, 209, 75,  176, 114,
                     89,  190, 41,  95,  196, 14,  5,   105, 206, 5,   106, 208, 7,   108, 216, 12,  113, 226, 20,  121,
                     225, 33,  134, 216, 49,  150, 196, 64,  165, 154, 80,  181, 90,  92,  193, 42,  98,  199, 24,  14,
                     114, 214, 13,  114, 216, 13,  114, 230, 13,  114, 243, 22,  123, 226, 40,  141, 170, 60,  161, 110,
                     75,  176, 75,  88,  189, 55,  97,  198, 45,  101, 202, 39,  22,  123, 224, 22,  123, 224, 20,  121,
                     234, 19,  120, 238, 28,  129, 206, 47,  148, 121, 68,  169, 38,  83,  184, 12,  95,  196, 29,  102,
                     203, 48,  106, 207, 52,  30,  131, 236, 31,  132, 231, 31,  132, 213, 33,  134, 182, 41,  142, 139,
                     54,  155, 73,  69,  170, 13,  83,  184, 1,   97,  198, 28,  107, 208, 53,  112, 213, 60,  37,  138,
                     247, 39,  140, 236, 44,  145, 182, 50,  151, 109, 57,  158, 56,  60,  161, 29,  66,  167, 9,   79,
                     180, 12,  98,  199, 37,  112, 213, 58,  117, 218, 64,  42,  143, 255, 45,  146, 240, 52,  153, 161,
                     62,  163, 58,  67,  168, 0,   64,  165, 0,   64,  165, 8,   76,  177, 22,  98,  199, 44,  115, 216,
                     61,  121, 222, 67,  44,  145, 255, 47,  148, 242, 55,  156, 153, 67,  168, 39,  71,  172, 0,   66,
                     167, 0,   64,  165, 5,   75,  176, 23,  98,  199, 46,  116, 217, 62,  123, 224, 69}},
      {1, 1, 3, 2, {0, 101, 202, 0, 101, 202, 0, 101, 202, 0, 101, 202, 0, 101, 202, 0, 101, 202}},
      {5, 2, 1, 1, {68, 148, 143}},
  };
  for (const FullCase& c : cases) {
    const Image src = pattern(c.w, c.h);
    EXPECT_EQ(resize_bicubic(src, c.out_w, c.out_h).pixels, c.expected) << c.w << "x" << c.h;
    EXPECT_EQ(detail::resize_bicubic_plain(src, c.out_w, c.out_h).pixels, c.expected) << c.w << "x" << c.h;
  }
}

struct HashCase {
  int w, h, out_w, out_h;
  std::uint64_t hash;
  int samples[3];  // channel 0 at (0, 0), channel 1 at the centre, channel 2 at the bottom-right
};

TEST(PreprocessResize, MatchesPillowHashes) {
  const HashCase cases[] = {
      {640, 480, 85, 64, 0x1202c691d7695550ull, {129, 124, 122}},
      {403, 302, 682, 512, 0xc6f32cdb3e06e1efull, {0, 224, 103}},
      {960, 640, 768, 512, 0xcc276761a6f563e2ull, {3, 150, 52}},
      {50, 60, 50, 17, 0xaa69a2fcb50b4511ull, {30, 97, 99}},   // vertical pass only
      {50, 60, 23, 60, 0xf5d514274b05f081ull, {10, 80, 144}},  // horizontal pass only
      {1000, 3, 2, 1, 0x9af050c5ec926903ull, {125, 133, 130}},
      {3, 700, 5, 1, 0x6cdc083a47530bd4ull, {129, 135, 129}},
      {4032, 3024, 682, 512, 0xe5f482d105569d56ull, {122, 132, 121}},  // a phone photo to the model's 512
  };
  for (const HashCase& c : cases) {
    const Image src = pattern(c.w, c.h);
    for (const bool plain : {false, true}) {
      const Image out =
          plain ? detail::resize_bicubic_plain(src, c.out_w, c.out_h) : resize_bicubic(src, c.out_w, c.out_h);
      SCOPED_TRACE(std::to_string(c.w) + "x" + std::to_string(c.h) + " -> " + std::to_string(c.out_w) + "x" +
                   std::to_string(c.out_h) + (plain ? " plain" : " dispatched"));
      ASSERT_EQ(out.width, c.out_w);
      ASSERT_EQ(out.height, c.out_h);
      EXPECT_EQ(fnv1a(out.pixels), c.hash);
      EXPECT_EQ(pixel(out, 0, 0, 0), c.samples[0]);
      EXPECT_EQ(pixel(out, c.out_w / 2, c.out_h / 2, 1), c.samples[1]);
      EXPECT_EQ(pixel(out, c.out_w - 1, c.out_h - 1, 2), c.samples[2]);
    }
  }
}

// The AVX2 kernels must give the plain kernels' bytes on any size (odd widths, row tails, 1-pixel sides).
TEST(PreprocessResize, SimdMatchesPlainOnRandomSizes) {
  if (!detail::resize_uses_simd()) GTEST_SKIP() << "no AVX2 on this CPU: only the plain kernels run";
  std::uint32_t seed = 7;
  auto next = [&](int lo, int hi) {
    seed = seed * 1664525u + 1013904223u;
    return lo + static_cast<int>((seed >> 8) % static_cast<std::uint32_t>(hi - lo + 1));
  };
  for (int i = 0; i < 150; ++i) {
    const int w = next(1, 90), h = next(1, 90);
    const int ow = next(1, 120), oh = next(1, 120);
    const Image src = random_image(w, h, seed);
    ASSERT_EQ(resize_bicubic(src, ow, oh).pixels, detail::resize_bicubic_plain(src, ow, oh).pixels)
        << w << "x" << h << " -> " << ow << "x" << oh;
  }
  // Extreme ratios: a long window (hundreds of taps) and heavy upscaling.
  const Image wide = random_image(3000, 4, 99);
  EXPECT_EQ(resize_bicubic(wide, 3, 2).pixels, detail::resize_bicubic_plain(wide, 3, 2).pixels);
  const Image tiny = random_image(2, 3, 5);
  EXPECT_EQ(resize_bicubic(tiny, 301, 97).pixels, detail::resize_bicubic_plain(tiny, 301, 97).pixels);
}

TEST(PreprocessResize, SameSizeIsACopy) {
  const Image src = random_image(13, 7, 3);
  EXPECT_EQ(resize_bicubic(src, 13, 7).pixels, src.pixels);
}

TEST(PreprocessResize, UniformImageStaysUniform) {
  Image src = make_image(37, 23);
  std::fill(src.pixels.begin(), src.pixels.end(), std::uint8_t{200});
  for (const auto& [w, h] : {std::pair{5, 3}, std::pair{100, 71}, std::pair{1, 1}}) {
    const Image out = resize_bicubic(src, w, h);
    for (const std::uint8_t v : out.pixels) ASSERT_EQ(v, 200);
  }
}

TEST(PreprocessResize, RejectsEmptyAndMalformed) {
  const Image src = random_image(4, 4, 1);
  EXPECT_THROW(resize_bicubic(Image{}, 4, 4), Error);
  EXPECT_THROW(resize_bicubic(src, 0, 4), Error);
  EXPECT_THROW(resize_bicubic(src, 4, -1), Error);
  EXPECT_THROW(resize_bicubic(src, 100000, 100000), Error);  // 10 Gpx: refused before allocating
  Image bad = src;
  bad.pixels.resize(5);  // fields disagree with the buffer
  try {
    resize_bicubic(bad, 2, 2);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// to_chw_float

TEST(PreprocessTensor, ChwLayoutAndFloat32Division) {
  Image image = make_image(2, 1);
  image.pixels = {3, 51, 127, 200, 254, 255};  // (x0: R G B) (x1: R G B)
  const std::vector<float> t = to_chw_float(image);
  ASSERT_EQ(t.size(), 6u);
  // torch's tensor.float().div(255) divides in float32 (not x * (1/255), which differs for 126 of 256 values).
  // Bit patterns from numpy: np.float32(v) / np.float32(255).
  EXPECT_EQ(std::bit_cast<std::uint32_t>(t[0]), 0x3c40c0c1u);  // R x0 = 3
  EXPECT_EQ(std::bit_cast<std::uint32_t>(t[1]), 0x3f48c8c9u);  // R x1 = 200
  EXPECT_EQ(std::bit_cast<std::uint32_t>(t[2]), 0x3e4ccccdu);  // G x0 = 51
  EXPECT_EQ(std::bit_cast<std::uint32_t>(t[3]), 0x3f7efeffu);  // G x1 = 254
  EXPECT_EQ(std::bit_cast<std::uint32_t>(t[4]), 0x3efefeffu);  // B x0 = 127
  EXPECT_EQ(t[5], 1.0f);                                       // B x1 = 255
  for (int v = 0; v < 256; ++v) {
    Image one = make_image(1, 1);
    one.pixels = {static_cast<std::uint8_t>(v), 0, 0};
    ASSERT_EQ(to_chw_float(one)[0], static_cast<float>(v) / 255.0f);
  }
}

TEST(PreprocessTensor, PointerOverloadFillsPlanes) {
  const Image image = random_image(5, 3, 11);
  std::vector<float> out(5 * 3 * 3, -1.0f);
  to_chw_float(image, out.data());
  EXPECT_EQ(out, to_chw_float(image));
  EXPECT_EQ(out[5 * 3 + 2 * 5 + 4], static_cast<float>(pixel(image, 4, 2, 1)) / 255.0f);  // G plane, (4, 2)
  EXPECT_THROW(to_chw_float(Image{}), Error);
}

}  // namespace
}  // namespace kprcnn

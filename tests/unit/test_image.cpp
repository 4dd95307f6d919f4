// Image basics, encode/decode round trips and colour conversions (fault rows 2 and 4).
// Pixel parity with Pillow on files Pillow writes is tested in tests/python/test_decode_vs_pillow.py.
#include <gtest/gtest.h>

#include "kprcnn/error.h"
#include "kprcnn/image.h"
#include "test_image_util.h"

namespace kprcnn {
namespace {

using image_test::Bytes;
using image_test::code_of;
using image_test::pixel;

// ---------------------------------------------------------------------------------------------------------------

TEST(ImageBasics, ConstructorSizesAndZeroFills) {
  const Image image(5, 3);
  EXPECT_EQ(image.width, 5);
  EXPECT_EQ(image.height, 3);
  ASSERT_EQ(image.pixels.size(), 5u * 3u * 3u);
  for (auto v : image.pixels) EXPECT_EQ(v, 0);
  EXPECT_FALSE(image.empty());
  EXPECT_EQ(image.row(2) - image.row(0), 2 * 5 * 3);
}

TEST(ImageBasics, ZeroSizedImagesAreEmpty) {  // fault row 2
  EXPECT_TRUE(Image().empty());
  EXPECT_TRUE(Image(0, 10).empty());
  EXPECT_TRUE(Image(10, 0).empty());
  EXPECT_TRUE(Image(0, 10).pixels.empty());
}

TEST(ImageBasics, ConstructorRejectsNegativeSizes) {
  EXPECT_EQ(code_of([] { Image(-1, 4); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of([] { Image(4, -1); }), ErrorCode::kInvalidArgument);
}

TEST(ImageBasics, SniffFormatByMagicBytes) {
  const Bytes jpeg = {0xFF, 0xD8, 0xFF, 0xE0};
  const Bytes png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  EXPECT_EQ(sniff_format(jpeg), ImageFormat::kJpeg);
  EXPECT_EQ(sniff_format(png), ImageFormat::kPng);
  EXPECT_EQ(sniff_format(Bytes{}), ImageFormat::kUnknown);
  EXPECT_EQ(sniff_format(Bytes{0xFF, 0xD8}), ImageFormat::kUnknown);
  EXPECT_EQ(sniff_format(Bytes(png.begin(), png.end() - 1)), ImageFormat::kUnknown);
  EXPECT_EQ(sniff_format(Bytes{'G', 'I', 'F', '8', '9', 'a'}), ImageFormat::kUnknown);
}

// ---------------------------------------------------------------------------------------------------------------
// Round trips

TEST(ImageCodec, PngRoundTripIsExact) {  // fault row 2: 1x1 and 1x10000 too
  for (auto [w, h] : {std::pair{67, 45}, {1, 1}, {1, 10000}, {10000, 1}, {256, 256}}) {
    const Image image = image_test::pattern_image(w, h);
    const Image back = decode_image(encode_png(image));
    EXPECT_EQ(back.width, w);
    EXPECT_EQ(back.height, h);
    EXPECT_EQ(back.pixels, image.pixels) << w << "x" << h;
  }
}

TEST(ImageCodec, PngIsRgb8NonInterlaced) {
  const Bytes png = encode_png(image_test::pattern_image(3, 2));
  ASSERT_GT(png.size(), 29u);
  EXPECT_EQ(png[24], 8);  // bit depth
  EXPECT_EQ(png[25], 2);  // colour type RGB
  EXPECT_EQ(png[28], 0);  // no interlace
}

TEST(ImageCodec, JpegRoundTripWithinTolerance) {
  // A smooth picture: JPEG at quality 95 stays within a few levels of it.
  Image image(64, 48);
  for (int y = 0; y < image.height; ++y) {
    for (int x = 0; x < image.width; ++x) {
      std::uint8_t* p = image.row(y) + x * 3;
      p[0] = static_cast<std::uint8_t>(40 + x * 2);
      p[1] = static_cast<std::uint8_t>(60 + y * 3);
      p[2] = static_cast<std::uint8_t>(200 - x - y);
    }
  }
  const Image back = decode_image(encode_jpeg(image, 95));
  ASSERT_EQ(back.width, 64);
  ASSERT_EQ(back.height, 48);
  EXPECT_LE(image_test::max_abs_diff(back, image), 6);
}

TEST(ImageCodec, JpegSmallAndThinImages) {  // fault row 2
  for (auto [w, h] : {std::pair{1, 1}, {1, 10000}, {10000, 1}, {9, 17}}) {
    const Image image = image_test::pattern_image(w, h);
    const Image back = decode_image(encode_jpeg(image, 90));
    EXPECT_EQ(back.width, w);
    EXPECT_EQ(back.height, h);
  }
}

TEST(ImageCodec, JpegIs420AndQualityMatters) {
  const Image image = image_test::pattern_image(64, 64);
  const Bytes q90 = encode_jpeg(image, 90);
  const Bytes q20 = encode_jpeg(image, 20);
  EXPECT_LT(q20.size(), q90.size());
  const std::size_t sof = image_test::find_bytes(q90, {0xFF, 0xC0});
  ASSERT_NE(sof, std::string::npos);
  ASSERT_EQ(q90[sof + 9], 3);      // components
  EXPECT_EQ(q90[sof + 11], 0x22);  // Y: 2x2
  EXPECT_EQ(q90[sof + 14], 0x11);  // Cb: 1x1
  EXPECT_EQ(q90[sof + 17], 0x11);  // Cr: 1x1
}

TEST(ImageCodec, EncodeRejectsBadArguments) {
  const Image image = image_test::pattern_image(4, 4);
  EXPECT_EQ(code_of([&] { encode_jpeg(image, 0); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of([&] { encode_jpeg(image, 101); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of([] { encode_png(Image()); }), ErrorCode::kInvalidArgument);  // fault row 2
  EXPECT_EQ(code_of([] { encode_jpeg(Image(0, 5)); }), ErrorCode::kInvalidArgument);
  Image broken = image_test::pattern_image(4, 4);
  broken.pixels.pop_back();
  EXPECT_EQ(code_of([&] { encode_png(broken); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of([] { encode_jpeg(Image(70000, 1)); }), ErrorCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------------------------------
// JPEG colour spaces (fault row 4). Flat 8x8-aligned blocks at quality 100 survive the DCT exactly when no
// colour conversion is involved, so expected values are exact.

// Pillow's conversion of an Adobe (inverted) CMYK JPEG sample, from the stored bytes: see decode.cpp.
std::array<std::uint8_t, 3> pillow_rgb_from_stored_cmyk(const std::uint8_t* s) {
  auto muldiv255 = [](unsigned a, unsigned b) {
    const unsigned t = a * b + 128;
    return ((t >> 8) + t) >> 8;
  };
  const unsigned k = s[3];
  return {static_cast<std::uint8_t>(k - muldiv255(255u - s[0], k)),
          static_cast<std::uint8_t>(k - muldiv255(255u - s[1], k)),
          static_cast<std::uint8_t>(k - muldiv255(255u - s[2], k))};
}

// A (blocks*8)x8 image of flat 8x8 blocks, `components` bytes per pixel, block b filled with values[b].
Bytes flat_blocks(const std::vector<std::vector<std::uint8_t>>& values, int components) {
  const int width = static_cast<int>(values.size()) * 8;
  Bytes pixels(static_cast<std::size_t>(width) * 8 * components);
  for (int y = 0; y < 8; ++y) {
    for (int x = 0; x < width; ++x) {
      for (int c = 0; c < components; ++c) pixels[(y * width + x) * components + c] = values[x / 8][c];
    }
  }
  return pixels;
}

TEST(ImageJpeg, GreyBecomesReplicatedRgb) {
  const std::vector<std::vector<std::uint8_t>> values = {{0}, {1}, {77}, {128}, {254}, {255}};
  const Bytes grey = flat_blocks(values, 1);
  image_test::TestJpegOptions o;
  o.in_space = JCS_GRAYSCALE;
  o.jpeg_space = JCS_GRAYSCALE;
  o.quality = 100;
  const Image image = decode_image(image_test::libjpeg_encode(grey.data(), 48, 8, 1, o));
  ASSERT_EQ(image.width, 48);
  for (std::size_t b = 0; b < values.size(); ++b) {
    const std::uint8_t v = values[b][0];
    EXPECT_EQ(pixel(image, static_cast<int>(b) * 8 + 3, 4), (std::array<std::uint8_t, 3>{v, v, v})) << b;
  }
}

const std::vector<std::vector<std::uint8_t>> kStoredCmyk = {{255, 255, 255, 255}, {0, 0, 0, 0},     {0, 128, 255, 255},
                                                            {200, 100, 50, 128},  {10, 20, 30, 40}, {255, 0, 0, 200},
                                                            {128, 128, 128, 1},   {33, 66, 99, 254}};

TEST(ImageJpeg, AdobeCmykConvertedLikePillow) {
  const Bytes cmyk = flat_blocks(kStoredCmyk, 4);
  image_test::TestJpegOptions o;
  o.in_space = JCS_CMYK;
  o.jpeg_space = JCS_CMYK;  // libjpeg writes the Adobe APP14 marker, samples stored as given
  o.quality = 100;
  for (bool progressive : {false, true}) {
    o.progressive = progressive;
    const Image image = decode_image(image_test::libjpeg_encode(cmyk.data(), 64, 8, 4, o));
    ASSERT_EQ(image.width, 64);
    for (std::size_t b = 0; b < kStoredCmyk.size(); ++b) {
      EXPECT_EQ(pixel(image, static_cast<int>(b) * 8 + 4, 3), pillow_rgb_from_stored_cmyk(kStoredCmyk[b].data()))
          << "block " << b << (progressive ? " progressive" : "");
    }
  }
}

TEST(ImageJpeg, YcckConvertedLikePillow) {
  // YCCK stores CMY through a YCbCr transform: libjpeg turns it back into (inverted) CMYK with rounding, so allow
  // a couple of levels against the exact CMYK formula.
  const Bytes cmyk = flat_blocks(kStoredCmyk, 4);
  image_test::TestJpegOptions o;
  o.in_space = JCS_CMYK;
  o.jpeg_space = JCS_YCCK;
  o.quality = 100;
  o.full_chroma = true;
  const Image image = decode_image(image_test::libjpeg_encode(cmyk.data(), 64, 8, 4, o));
  ASSERT_EQ(image.width, 64);
  for (std::size_t b = 0; b < kStoredCmyk.size(); ++b) {
    const auto want = pillow_rgb_from_stored_cmyk(kStoredCmyk[b].data());
    const auto got = pixel(image, static_cast<int>(b) * 8 + 4, 3);
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(got[c], want[c], 2) << "block " << b << " channel " << c;
  }
}

TEST(ImageJpeg, ProgressiveDecodesLikeBaseline) {
  const Image image = image_test::pattern_image(61, 37);
  image_test::TestJpegOptions o;
  const Bytes baseline = image_test::libjpeg_encode(image.pixels.data(), 61, 37, 3, o);
  o.progressive = true;
  const Bytes progressive = image_test::libjpeg_encode(image.pixels.data(), 61, 37, 3, o);
  ASSERT_NE(baseline, progressive);
  EXPECT_EQ(decode_image(progressive).pixels, decode_image(baseline).pixels);
}

TEST(ImageJpeg, TwoComponentJpegIsUnsupported) {
  const Bytes two(16 * 16 * 2, 100);
  image_test::TestJpegOptions o;
  o.in_space = JCS_UNKNOWN;
  o.jpeg_space = JCS_UNKNOWN;
  try {
    decode_image(image_test::libjpeg_encode(two.data(), 16, 16, 2, o));
    FAIL() << "decoded a 2-component JPEG";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kImageDecode);
    EXPECT_NE(std::string(e.what()).find("2 components"), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// PNG colour types (fault row 4), built by hand so that every sample value is known.

TEST(ImagePng, GreyDepthsScaleTo8Bit) {
  // One row of 4 pixels per depth; samples 0, 1, max-1, max.
  struct Case {
    int depth;
    Bytes row;
    std::array<std::uint8_t, 4> want;
  };
  const Case cases[] = {
      {1, {0b01100000}, {0, 255, 255, 0}},
      {2, {0b00011011}, {0, 85, 170, 255}},
      {4, {0x01, 0xEF}, {0, 17, 238, 255}},
      {8, {0, 1, 254, 255}, {0, 1, 254, 255}},
  };
  for (const Case& c : cases) {
    const Image image = decode_image(image_test::raw_png(4, 1, c.depth, 0, {c.row}));
    ASSERT_EQ(image.width, 4);
    for (int x = 0; x < 4; ++x) {
      EXPECT_EQ(pixel(image, x, 0), (std::array<std::uint8_t, 3>{c.want[x], c.want[x], c.want[x]}))
          << "depth " << c.depth << " x " << x;
    }
  }
}

TEST(ImagePng, Grey16IsClippedLikePillow) {
  // Pillow 9.4: mode "I", convert("RGB") clips to 255 (not the high byte).
  const Bytes row = {0x00, 0x00, 0x00, 0x01, 0x00, 0xFF, 0x01, 0x00, 0x12, 0x34, 0xFF, 0xFF};
  const Image image = decode_image(image_test::raw_png(6, 1, 16, 0, {row}));
  const std::uint8_t want[] = {0, 1, 255, 255, 255, 255};
  for (int x = 0; x < 6; ++x) EXPECT_EQ(pixel(image, x, 0)[0], want[x]) << x;
  EXPECT_EQ(pixel(image, 1, 0), (std::array<std::uint8_t, 3>{1, 1, 1}));
}

TEST(ImagePng, Rgb16TakesTheHighByte) {
  const Bytes row = {0x12, 0xFF, 0x00, 0x80, 0xFF, 0x00};
  const Image image = decode_image(image_test::raw_png(1, 1, 16, 2, {row}));
  EXPECT_EQ(pixel(image, 0, 0), (std::array<std::uint8_t, 3>{0x12, 0x00, 0xFF}));
  const Bytes rgba_row = {0x12, 0xFF, 0x00, 0x80, 0xFF, 0x00, 0x00, 0x00};
  EXPECT_EQ(pixel(decode_image(image_test::raw_png(1, 1, 16, 6, {rgba_row})), 0, 0),
            (std::array<std::uint8_t, 3>{0x12, 0x00, 0xFF}));
  const Bytes grey_alpha_row = {0xAB, 0xCD, 0x00, 0x00};
  EXPECT_EQ(pixel(decode_image(image_test::raw_png(1, 1, 16, 4, {grey_alpha_row})), 0, 0),
            (std::array<std::uint8_t, 3>{0xAB, 0xAB, 0xAB}));
}

TEST(ImagePng, AlphaIsDroppedNotComposited) {
  const Bytes rgba = {10, 20, 30, 0, 40, 50, 60, 128, 70, 80, 90, 255};
  const Image image = decode_image(image_test::raw_png(3, 1, 8, 6, {rgba}));
  EXPECT_EQ(pixel(image, 0, 0), (std::array<std::uint8_t, 3>{10, 20, 30}));
  EXPECT_EQ(pixel(image, 1, 0), (std::array<std::uint8_t, 3>{40, 50, 60}));
  EXPECT_EQ(pixel(image, 2, 0), (std::array<std::uint8_t, 3>{70, 80, 90}));
  const Bytes grey_alpha = {99, 0, 200, 17};
  const Image grey = decode_image(image_test::raw_png(2, 1, 8, 4, {grey_alpha}));
  EXPECT_EQ(pixel(grey, 0, 0), (std::array<std::uint8_t, 3>{99, 99, 99}));
  EXPECT_EQ(pixel(grey, 1, 0), (std::array<std::uint8_t, 3>{200, 200, 200}));
}

TEST(ImagePng, PaletteWithTransparencyGivesPaletteColours) {
  const image_test::PngChunk plte{"PLTE", {255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 8, 7}};
  const image_test::PngChunk trns{"tRNS", {0, 128}};  // entries 0 and 1 (partly) transparent: ignored
  const Bytes indices = {0, 1, 2, 3};
  const Image image = decode_image(image_test::raw_png(4, 1, 8, 3, {indices}, {plte, trns}));
  EXPECT_EQ(pixel(image, 0, 0), (std::array<std::uint8_t, 3>{255, 0, 0}));
  EXPECT_EQ(pixel(image, 1, 0), (std::array<std::uint8_t, 3>{0, 255, 0}));
  EXPECT_EQ(pixel(image, 2, 0), (std::array<std::uint8_t, 3>{0, 0, 255}));
  EXPECT_EQ(pixel(image, 3, 0), (std::array<std::uint8_t, 3>{9, 8, 7}));
  // 2-bit indices.
  const Image packed = decode_image(image_test::raw_png(4, 1, 2, 3, {Bytes{0b00011011}}, {plte}));
  EXPECT_EQ(pixel(packed, 0, 0), (std::array<std::uint8_t, 3>{255, 0, 0}));
  EXPECT_EQ(pixel(packed, 3, 0), (std::array<std::uint8_t, 3>{9, 8, 7}));
}

TEST(ImagePng, GreyAndRgbTransparencyIgnored) {
  const image_test::PngChunk grey_trns{"tRNS", {0, 50}};
  EXPECT_EQ(pixel(decode_image(image_test::raw_png(1, 1, 8, 0, {Bytes{50}}, {grey_trns})), 0, 0),
            (std::array<std::uint8_t, 3>{50, 50, 50}));
  const image_test::PngChunk rgb_trns{"tRNS", {0, 1, 0, 2, 0, 3}};
  EXPECT_EQ(pixel(decode_image(image_test::raw_png(1, 1, 8, 2, {Bytes{1, 2, 3}}, {rgb_trns})), 0, 0),
            (std::array<std::uint8_t, 3>{1, 2, 3}));
}

TEST(ImagePng, GammaIsIgnored) {
  const image_test::PngChunk gama{"gAMA", {0, 0, 0x55, 0xF0}};  // 0.22
  EXPECT_EQ(pixel(decode_image(image_test::raw_png(1, 1, 8, 2, {Bytes{100, 150, 200}}, {gama})), 0, 0),
            (std::array<std::uint8_t, 3>{100, 150, 200}));
}

}  // namespace
}  // namespace kprcnn

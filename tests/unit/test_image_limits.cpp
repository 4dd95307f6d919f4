// Hostile inputs for the decoders: corrupt, truncated, empty, wrong type (fault row 1), degenerate sizes
// (row 2), header and scan bombs (row 3).
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <chrono>
#include <random>

#include "kprcnn/error.h"
#include "kprcnn/image.h"
#include "test_image_util.h"

namespace kprcnn {
namespace {

using image_test::Bytes;
using image_test::code_of;
using image_test::message_of;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

Bytes small_jpeg(bool progressive = false) {
  const Image image = image_test::pattern_image(67, 45);
  image_test::TestJpegOptions o;
  o.progressive = progressive;
  return image_test::libjpeg_encode(image.pixels.data(), 67, 45, 3, o);
}

Bytes small_png() {
  return encode_png(image_test::pattern_image(67, 45));
}

long peak_rss_kib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

// ---------------------------------------------------------------------------------------------------------------
// fault row 1

TEST(ImageLimits, EmptyInputIsAClearError) {
  EXPECT_EQ(code_of([] { decode_image(Bytes{}); }), ErrorCode::kImageDecode);
  EXPECT_TRUE(contains(message_of([] { decode_image(Bytes{}); }), "empty"));
}

TEST(ImageLimits, TextIsNotAnImage) {
  const std::string text = "hello, this is a text file named photo.jpg\n";
  const Bytes bytes(text.begin(), text.end());
  EXPECT_EQ(code_of([&] { decode_image(bytes); }), ErrorCode::kImageDecode);
  const std::string message = message_of([&] { decode_image(bytes); });
  EXPECT_TRUE(contains(message, "not a JPEG or PNG image (looks like text")) << message;
}

TEST(ImageLimits, OtherFormatsAreNamed) {
  const Bytes gif = {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0};
  EXPECT_TRUE(contains(message_of([&] { decode_image(gif); }), "GIF")) << message_of([&] { decode_image(gif); });
  const Bytes binary = {0x00, 0x01, 0xFE, 0x80};
  EXPECT_TRUE(contains(message_of([&] { decode_image(binary); }), "starts with 00 01 fe 80"));
}

TEST(ImageLimits, TruncatedJpegIsAnError) {
  for (bool progressive : {false, true}) {
    const Bytes jpeg = small_jpeg(progressive);
    ASSERT_NO_THROW(decode_image(jpeg));
    // Every strict prefix fails: libjpeg's "premature end" warning is an error here, as the EOI is missing even
    // when all pixels are there (Pillow refuses those files too: "image file is truncated").
    for (std::size_t n = 0; n < jpeg.size(); n += (n < 700 ? 1 : 13)) {
      const Bytes cut(jpeg.begin(), jpeg.begin() + static_cast<std::ptrdiff_t>(n));
      ASSERT_EQ(code_of([&] { decode_image(cut); }), ErrorCode::kImageDecode) << n << " bytes";
    }
    const Bytes half(jpeg.begin(), jpeg.begin() + static_cast<std::ptrdiff_t>(jpeg.size() / 2));
    EXPECT_TRUE(contains(message_of([&] { decode_image(half); }), "truncated"));
  }
}

TEST(ImageLimits, JpegScanCutByAMarkerIsAnError) {
  // Entropy data cut in the middle but the file still ends with EOI: libjpeg's "premature end of data segment".
  Bytes jpeg = small_jpeg();
  const std::size_t sos = image_test::find_bytes(jpeg, {0xFF, 0xDA});
  ASSERT_NE(sos, std::string::npos);
  jpeg.resize(sos + (jpeg.size() - sos) / 2);
  jpeg.insert(jpeg.end(), {0xFF, 0xD9});
  EXPECT_EQ(code_of([&] { decode_image(jpeg); }), ErrorCode::kImageDecode);
  EXPECT_TRUE(contains(message_of([&] { decode_image(jpeg); }), "truncated or corrupt"));
}

TEST(ImageLimits, TruncatedPngIsAnError) {
  const Bytes png = small_png();
  for (std::size_t n = 0; n < png.size(); n += (n < 200 ? 1 : 11)) {
    const Bytes cut(png.begin(), png.begin() + static_cast<std::ptrdiff_t>(n));
    if (n < png.size() - 12) {
      ASSERT_EQ(code_of([&] { decode_image(cut); }), ErrorCode::kImageDecode) << n << " of " << png.size();
    }
  }
  const Bytes half(png.begin(), png.begin() + static_cast<std::ptrdiff_t>(png.size() / 2));
  EXPECT_TRUE(contains(message_of([&] { decode_image(half); }), "truncated"));
  // Only the IEND chunk lost: the pixels are complete and checked, decoded as Pillow does.
  const Bytes no_iend(png.begin(), png.end() - 12);
  EXPECT_EQ(decode_image(no_iend).pixels, decode_image(png).pixels);
}

TEST(ImageLimits, PngCrcErrorInImageDataIsAnError) {
  Bytes png = small_png();
  const std::size_t idat = image_test::find_bytes(png, {'I', 'D', 'A', 'T'});
  ASSERT_NE(idat, std::string::npos);
  const std::size_t length = std::size_t{png[idat - 4]} << 24 | std::size_t{png[idat - 3]} << 16 |
                             std::size_t{png[idat - 2]} << 8 | png[idat - 1];
  png[idat + 4 + length] ^= 0x5A;  // CRC
  EXPECT_EQ(code_of([&] { decode_image(png); }), ErrorCode::kImageDecode);
  EXPECT_TRUE(contains(message_of([&] { decode_image(png); }), "CRC")) << message_of([&] { decode_image(png); });
}

TEST(ImageLimits, RandomCorruptionNeverCrashes) {
  // A small in-process fuzz: flipped bytes give either an image or a kprcnn::Error, nothing else.
  // (Run the unit tests under ASan/UBSan to make this check memory safety too.)
  std::mt19937 rng(1234);
  for (const Bytes& original : {small_jpeg(), small_jpeg(true), small_png()}) {
    for (int round = 0; round < 300; ++round) {
      Bytes bytes = original;
      const int flips = 1 + static_cast<int>(rng() % 8);
      for (int i = 0; i < flips; ++i) {
        bytes[2 + rng() % (bytes.size() - 2)] = static_cast<std::uint8_t>(rng());
      }
      try {
        const Image image = decode_image(bytes);
        EXPECT_EQ(image.pixels.size(), static_cast<std::size_t>(image.width) * image.height * 3);
      } catch (const Error& e) {
        EXPECT_TRUE(e.code() == ErrorCode::kImageDecode || e.code() == ErrorCode::kImageTooLarge) << e.what();
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// fault row 2

TEST(ImageLimits, ZeroWidthOrHeightHeaderIsAClearError) {
  const Bytes zero_width = image_test::raw_png(0, 3, 8, 2, {Bytes{}, Bytes{}, Bytes{}});
  EXPECT_EQ(code_of([&] { decode_image(zero_width); }), ErrorCode::kImageDecode);
  EXPECT_TRUE(contains(message_of([&] { decode_image(zero_width); }), "empty image (0x3)"))
      << message_of([&] { decode_image(zero_width); });

  Bytes jpeg = small_jpeg();
  const std::size_t sof = image_test::find_bytes(jpeg, {0xFF, 0xC0});
  ASSERT_NE(sof, std::string::npos);
  jpeg[sof + 5] = jpeg[sof + 6] = 0;  // height 0 (a DNL marker would be needed; libjpeg refuses)
  EXPECT_EQ(code_of([&] { decode_image(jpeg); }), ErrorCode::kImageDecode);
}

TEST(ImageLimits, OneByOneAndOneByTenThousand) {
  for (auto [w, h] : {std::pair{1, 1}, {1, 10000}, {10000, 1}}) {
    const Image png = decode_image(encode_png(image_test::pattern_image(w, h)));
    EXPECT_EQ(png.width, w);
    EXPECT_EQ(png.height, h);
    const Image jpeg = decode_image(encode_jpeg(image_test::pattern_image(w, h)));
    EXPECT_EQ(jpeg.width, w);
    EXPECT_EQ(jpeg.height, h);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// fault row 3

Bytes png_header_bomb(std::uint32_t width, std::uint32_t height) {
  Bytes ihdr;
  image_test::put_be32(ihdr, width);
  image_test::put_be32(ihdr, height);
  ihdr.insert(ihdr.end(), {8, 2, 0, 0, 0});
  Bytes png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  image_test::append_png_chunk(png, "IHDR", ihdr);
  image_test::append_png_chunk(png, "IDAT", image_test::zlib_stored(Bytes(1000, 0)));
  image_test::append_png_chunk(png, "IEND", {});
  return png;
}

Bytes jpeg_header_bomb(std::uint16_t width, std::uint16_t height) {
  Bytes jpeg = small_jpeg();
  const std::size_t sof = image_test::find_bytes(jpeg, {0xFF, 0xC0});
  jpeg[sof + 5] = static_cast<std::uint8_t>(height >> 8);
  jpeg[sof + 6] = static_cast<std::uint8_t>(height);
  jpeg[sof + 7] = static_cast<std::uint8_t>(width >> 8);
  jpeg[sof + 8] = static_cast<std::uint8_t>(width);
  return jpeg;
}

TEST(ImageLimits, HeaderBombRejectedBeforeAllocating) {
  const long rss_before = peak_rss_kib();
  const auto start = std::chrono::steady_clock::now();
  for (const Bytes& bomb : {png_header_bomb(60000, 60000), jpeg_header_bomb(60000, 60000)}) {
    EXPECT_EQ(code_of([&] { decode_image(bomb); }), ErrorCode::kImageTooLarge);
    const std::string message = message_of([&] { decode_image(bomb); });
    EXPECT_TRUE(contains(message, "60000x60000 = 3600000000 pixels")) << message;
  }
  // A 60000x60000 RGB buffer is 10.8 GB: neither time nor memory may show it.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  EXPECT_LT(peak_rss_kib() - rss_before, 64 * 1024);
}

TEST(ImageLimits, PngWiderThanLibpngDefaultLimitIsOurs) {
  // libpng's own default refuses > 1,000,000 pixels per side; our cap decides instead.
  EXPECT_EQ(code_of([] { decode_image(png_header_bomb(2'000'000, 1000)); }), ErrorCode::kImageTooLarge);
  DecodeOptions unlimited_rows;
  unlimited_rows.max_pixels = 0;  // then libpng reads the (too short) data and fails cleanly
  EXPECT_EQ(code_of([&] { decode_image(png_header_bomb(1'500'000, 1), unlimited_rows); }), ErrorCode::kImageDecode);
}

TEST(ImageLimits, MaxPixelsIsInclusive) {
  const Bytes png = encode_png(image_test::pattern_image(20, 10));
  const Bytes jpeg = encode_jpeg(image_test::pattern_image(20, 10));
  DecodeOptions options;
  options.max_pixels = 200;
  EXPECT_NO_THROW(decode_image(png, options));
  EXPECT_NO_THROW(decode_image(jpeg, options));
  options.max_pixels = 199;
  EXPECT_EQ(code_of([&] { decode_image(png, options); }), ErrorCode::kImageTooLarge);
  EXPECT_EQ(code_of([&] { decode_image(jpeg, options); }), ErrorCode::kImageTooLarge);
}

// A progressive JPEG whose first scan (DC, first pass: decoding it does not depend on earlier scans, so every copy
// decodes cleanly) is repeated `copies` more times. libjpeg warns about the bogus progression and decodes every
// copy: the "thousands of scans" CPU bomb.
Bytes scan_bomb(int copies) {
  const Bytes jpeg = small_jpeg(true);
  const std::size_t sos = image_test::find_bytes(jpeg, {0xFF, 0xDA});
  // The scan ends at the next marker that is neither stuffing (FF 00) nor a restart marker.
  std::size_t end = sos + 2 + (std::size_t{jpeg[sos + 2]} << 8 | jpeg[sos + 3]);
  while (!(jpeg[end] == 0xFF && jpeg[end + 1] != 0 && (jpeg[end + 1] < 0xD0 || jpeg[end + 1] > 0xD7))) ++end;
  Bytes out(jpeg.begin(), jpeg.begin() + static_cast<std::ptrdiff_t>(end));
  for (int i = 0; i < copies; ++i) {
    out.insert(out.end(), jpeg.begin() + static_cast<std::ptrdiff_t>(sos),
               jpeg.begin() + static_cast<std::ptrdiff_t>(end));
  }
  out.insert(out.end(), jpeg.begin() + static_cast<std::ptrdiff_t>(end), jpeg.end());
  return out;
}

TEST(ImageLimits, ProgressiveScanBombIsRejected) {
  const Bytes bomb = scan_bomb(3000);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(code_of([&] { decode_image(bomb); }), ErrorCode::kImageDecode);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  const std::string message = message_of([&] { decode_image(bomb); });
  EXPECT_TRUE(contains(message, "more than 1000 scans")) << message;
  // The cap is a parameter; a few repeated scans under it still decode.
  EXPECT_NO_THROW(decode_image(scan_bomb(5)));
  DecodeOptions strict;
  strict.max_jpeg_scans = 9;  // libjpeg's simple progression has 10 scans
  EXPECT_EQ(code_of([&] { decode_image(small_jpeg(true), strict); }), ErrorCode::kImageDecode);
  strict.max_jpeg_scans = 10;
  EXPECT_NO_THROW(decode_image(small_jpeg(true), strict));
  strict.max_jpeg_scans = 1;
  EXPECT_NO_THROW(decode_image(small_jpeg(false), strict));  // baseline: one scan
  strict.max_jpeg_scans = 0;
  EXPECT_EQ(code_of([&] { decode_image(small_jpeg(false), strict); }), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace kprcnn

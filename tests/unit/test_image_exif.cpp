// EXIF orientation: the reader, the transposes, and both containers (fault row 5).
#include <gtest/gtest.h>

#include <random>

#include "image/exif.h"
#include "kprcnn/error.h"
#include "kprcnn/image.h"
#include "test_image_util.h"

namespace kprcnn {
namespace {

using image_detail::apply_exif_orientation;
using image_detail::exif_orientation;
using image_test::Bytes;
using image_test::pixel;
using Rgb = std::array<std::uint8_t, 3>;

// ---------------------------------------------------------------------------------------------------------------
// The reader

TEST(ImageExif, ReadsOrientationInBothByteOrders) {
  for (int o = 1; o <= 8; ++o) {
    for (bool big_endian : {false, true}) {
      EXPECT_EQ(exif_orientation(image_test::tiff_with_orientation(o, big_endian)), o) << o << big_endian;
      EXPECT_EQ(exif_orientation(image_test::exif_app1_payload(o, big_endian)), o) << o << big_endian;
    }
  }
}

// A little-endian TIFF block with one IFD0 entry (tag, type, count, 4 value bytes) and optional trailing data.
Bytes one_entry(std::uint16_t tag, std::uint16_t type, std::uint32_t count, std::array<std::uint8_t, 4> value,
                const Bytes& tail = {}) {
  Bytes b = {'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0};
  b.insert(b.end(), {static_cast<std::uint8_t>(tag), static_cast<std::uint8_t>(tag >> 8),
                     static_cast<std::uint8_t>(type), static_cast<std::uint8_t>(type >> 8),
                     static_cast<std::uint8_t>(count), static_cast<std::uint8_t>(count >> 8),
                     static_cast<std::uint8_t>(count >> 16), static_cast<std::uint8_t>(count >> 24)});
  b.insert(b.end(), value.begin(), value.end());
  b.insert(b.end(), {0, 0, 0, 0});  // next IFD
  b.insert(b.end(), tail.begin(), tail.end());
  return b;
}

TEST(ImageExif, ValueTypesAsPillowReadsThem) {
  EXPECT_EQ(exif_orientation(one_entry(0x112, 3, 1, {6, 0, 0, 0})), 6);    // SHORT
  EXPECT_EQ(exif_orientation(one_entry(0x112, 4, 1, {6, 0, 0, 0})), 6);    // LONG
  EXPECT_EQ(exif_orientation(one_entry(0x112, 8, 1, {6, 0, 0, 0})), 6);    // SSHORT
  EXPECT_EQ(exif_orientation(one_entry(0x112, 3, 2, {7, 0, 1, 0})), 7);    // two SHORTs: Pillow keeps the first
  EXPECT_EQ(exif_orientation(one_entry(0x112, 1, 1, {6, 0, 0, 0})), 1);    // BYTE: bytes in Pillow, no match
  EXPECT_EQ(exif_orientation(one_entry(0x112, 2, 2, {'6', 0, 0, 0})), 1);  // ASCII
  EXPECT_EQ(exif_orientation(one_entry(0x112, 99, 1, {6, 0, 0, 0})), 1);   // unknown type: skipped
  EXPECT_EQ(exif_orientation(one_entry(0x112, 3, 0, {6, 0, 0, 0})), 1);    // no value
  EXPECT_EQ(exif_orientation(one_entry(0x112, 3, 1, {0, 0, 0, 0})), 1);    // out of range
  EXPECT_EQ(exif_orientation(one_entry(0x112, 3, 1, {9, 0, 0, 0})), 1);
  EXPECT_EQ(exif_orientation(one_entry(0x112, 9, 1, {0xFA, 0xFF, 0xFF, 0xFF})), 1);  // SLONG -6
  EXPECT_EQ(exif_orientation(one_entry(0x111, 3, 1, {6, 0, 0, 0})), 1);              // another tag
  // Three SHORTs do not fit inline: stored at offset 26 (right after the IFD and its next-IFD link).
  EXPECT_EQ(exif_orientation(one_entry(0x112, 3, 3, {26, 0, 0, 0}, {5, 0, 1, 0, 1, 0})), 5);
  // ... and an offset past the end is not followed.
  EXPECT_EQ(exif_orientation(one_entry(0x112, 3, 3, {200, 0, 0, 0}, {5, 0, 1, 0, 1, 0})), 1);
  EXPECT_EQ(exif_orientation(one_entry(0x112, 3, 3, {0xFF, 0xFF, 0xFF, 0xFF}, {5, 0, 1, 0, 1, 0})), 1);
}

TEST(ImageExif, MalformedBlocksMeanOrientationOne) {
  EXPECT_EQ(exif_orientation({}), 1);
  EXPECT_EQ(exif_orientation(Bytes{'E', 'x', 'i', 'f', 0, 0}), 1);
  EXPECT_EQ(exif_orientation(Bytes{'I', 'I', 42, 0}), 1);
  Bytes block = image_test::tiff_with_orientation(6, false);
  Bytes bad_order = block;
  bad_order[0] = 'X';
  EXPECT_EQ(exif_orientation(bad_order), 1);
  Bytes bad_magic = block;
  bad_magic[2] = 43;
  EXPECT_EQ(exif_orientation(bad_magic), 1);
  Bytes swapped_magic = block;  // Pillow accepts 42 written in the other byte order
  std::swap(swapped_magic[2], swapped_magic[3]);
  EXPECT_EQ(exif_orientation(swapped_magic), 6);
  Bytes far_ifd = block;
  far_ifd[4] = 0xFF, far_ifd[5] = 0xFF, far_ifd[6] = 0xFF, far_ifd[7] = 0xFF;
  EXPECT_EQ(exif_orientation(far_ifd), 1);
  Bytes many_entries = block;  // count 0xFFFF, far more than the block holds: the present entries still count
  many_entries[8] = 0xFF, many_entries[9] = 0xFF;
  EXPECT_EQ(exif_orientation(many_entries), 6);
}

TEST(ImageExif, LaterDuplicateWins) {
  Bytes b = {'M', 'M', 0, 42, 0, 0, 0, 8, 0, 2};
  b.insert(b.end(), {0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 3, 0, 0});
  b.insert(b.end(), {0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 8, 0, 0});
  EXPECT_EQ(exif_orientation(b), 8);
}

TEST(ImageExif, EveryTruncationAndMutationIsSafe) {
  // Bounds: every prefix of a valid block, then random byte mutations (run under ASan to check memory safety).
  const Bytes block = image_test::exif_app1_payload(7, true);
  for (std::size_t n = 0; n <= block.size(); ++n) {
    const int o = exif_orientation(std::span(block.data(), n));
    EXPECT_TRUE(o == 1 || o == 7) << n;  // 7 once the orientation entry is complete
  }
  EXPECT_EQ(exif_orientation(block), 7);
  std::mt19937 rng(42);
  for (int round = 0; round < 20000; ++round) {
    Bytes b = round % 2 ? image_test::tiff_with_orientation(3, round % 4 == 1)
                        : one_entry(0x112, 3, 3, {26, 0, 0, 0}, {5, 0});
    const int flips = 1 + static_cast<int>(rng() % 6);
    for (int i = 0; i < flips; ++i) b[rng() % b.size()] = static_cast<std::uint8_t>(rng());
    b.resize(rng() % (b.size() + 1));
    const int o = exif_orientation(b);
    ASSERT_GE(o, 1);
    ASSERT_LE(o, 8);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The transposes (PIL.Image.Transpose semantics, as ImageOps.exif_transpose applies them)

struct Corners {
  Rgb top_left, top_right, bottom_left, bottom_right;
};

Corners corners(const Image& image) {
  return {pixel(image, 0, 0), pixel(image, image.width - 1, 0), pixel(image, 0, image.height - 1),
          pixel(image, image.width - 1, image.height - 1)};
}

TEST(ImageExif, TransposesMatchTheirDefinitions) {
  const Image source = image_test::coordinate_image(5, 3);
  const Rgb tl = pixel(source, 0, 0), tr = pixel(source, 4, 0), bl = pixel(source, 0, 2), br = pixel(source, 4, 2);
  // What each displayed corner shows, for orientations 1..8.
  const Corners expected[] = {
      {tl, tr, bl, br},  // 1 as stored
      {tr, tl, br, bl},  // 2 mirror left-right
      {br, bl, tr, tl},  // 3 rotate 180
      {bl, br, tl, tr},  // 4 mirror top-bottom
      {tl, bl, tr, br},  // 5 transpose
      {bl, tl, br, tr},  // 6 rotate 90 clockwise (Pillow ROTATE_270)
      {br, tr, bl, tl},  // 7 transverse
      {tr, br, tl, bl},  // 8 rotate 90 counter-clockwise (Pillow ROTATE_90)
  };
  for (int o = 1; o <= 8; ++o) {
    Image image = source;
    apply_exif_orientation(image, o);
    const bool swapped = o >= 5;
    ASSERT_EQ(image.width, swapped ? 3 : 5) << o;
    ASSERT_EQ(image.height, swapped ? 5 : 3) << o;
    const Corners got = corners(image);
    const Corners& want = expected[o - 1];
    EXPECT_EQ(got.top_left, want.top_left) << o;
    EXPECT_EQ(got.top_right, want.top_right) << o;
    EXPECT_EQ(got.bottom_left, want.bottom_left) << o;
    EXPECT_EQ(got.bottom_right, want.bottom_right) << o;
  }
}

TEST(ImageExif, EachTransposeIsUndoneByItsInverse) {
  const int inverse[] = {0, 1, 2, 3, 4, 5, 8, 7, 6};
  for (auto [w, h] : {std::pair{1, 1}, {1, 7}, {7, 1}, {70, 130}, {129, 64}}) {
    const Image source = image_test::coordinate_image(w, h);
    for (int o = 1; o <= 8; ++o) {
      Image image = source;
      apply_exif_orientation(image, o);
      apply_exif_orientation(image, inverse[o]);
      EXPECT_EQ(image.width, w);
      EXPECT_EQ(image.pixels, source.pixels) << w << "x" << h << " orientation " << o;
    }
  }
}

TEST(ImageExif, OtherValuesAndEmptyImagesAreLeftAlone) {
  const Image source = image_test::coordinate_image(4, 2);
  for (int o : {0, 9, -1, 1000}) {
    Image image = source;
    apply_exif_orientation(image, o);
    EXPECT_EQ(image.pixels, source.pixels);
  }
  Image empty;
  apply_exif_orientation(empty, 6);
  EXPECT_TRUE(empty.empty());
}

// ---------------------------------------------------------------------------------------------------------------
// In files

TEST(ImageExif, JpegApp1OrientationsOneToEight) {
  // The decoded JPEG is lossy: compare with the unrotated decode of the same file, transposed.
  const Bytes plain = encode_jpeg(image_test::pattern_image(37, 23), 90);
  DecodeOptions no_exif;
  no_exif.apply_exif_orientation = false;
  for (int o = 1; o <= 8; ++o) {
    for (bool big_endian : {false, true}) {
      const Bytes jpeg = image_test::with_app_segment(plain, 0xE1, image_test::exif_app1_payload(o, big_endian));
      const Image decoded = decode_image(jpeg);
      Image expected = decode_image(jpeg, no_exif);
      EXPECT_EQ(expected.width, 37);
      apply_exif_orientation(expected, o);
      EXPECT_EQ(decoded.width, o >= 5 ? 23 : 37) << o;
      EXPECT_EQ(decoded.pixels, expected.pixels) << o << (big_endian ? " MM" : " II");
    }
  }
}

TEST(ImageExif, JpegUsesTheFirstExifSegment) {
  const Bytes plain = encode_jpeg(image_test::pattern_image(16, 8), 90);
  const std::string xmp = "http://ns.adobe.com/xap/1.0/";
  Bytes jpeg = image_test::with_app_segment(plain, 0xE1, image_test::exif_app1_payload(3, false));  // second
  jpeg = image_test::with_app_segment(jpeg, 0xE1, image_test::exif_app1_payload(6, false));         // first
  jpeg = image_test::with_app_segment(jpeg, 0xE1, Bytes(xmp.begin(), xmp.end()));                   // not EXIF
  EXPECT_EQ(decode_image(jpeg).width, 8);                                                           // orientation 6
}

TEST(ImageExif, MalformedExifInAJpegIsIgnored) {
  const Bytes plain = encode_jpeg(image_test::pattern_image(16, 8), 90);
  const Image reference = decode_image(plain);
  Bytes truncated = image_test::exif_app1_payload(6, true);
  truncated.resize(truncated.size() - 14);  // cuts the orientation entry
  for (const Bytes& payload : {Bytes{'E', 'x', 'i', 'f', 0, 0}, Bytes{'E', 'x', 'i', 'f', 0, 'X', 'M', 'M', 0, 42},
                               truncated, Bytes(500, 0xFF)}) {
    const Image image = decode_image(image_test::with_app_segment(plain, 0xE1, payload));
    EXPECT_EQ(image.pixels, reference.pixels);
  }
}

TEST(ImageExif, PngExifBeforeAndAfterImageData) {
  const Image source = image_test::coordinate_image(6, 4);
  std::vector<Bytes> rows;
  for (int y = 0; y < 4; ++y) rows.emplace_back(source.row(y), source.row(y) + 18);
  for (int o = 1; o <= 8; ++o) {
    Image expected = source;
    apply_exif_orientation(expected, o);
    const image_test::PngChunk exif{"eXIf", image_test::tiff_with_orientation(o, o % 2 == 1)};
    EXPECT_EQ(decode_image(image_test::raw_png(6, 4, 8, 2, rows, {exif})).pixels, expected.pixels) << o;
    EXPECT_EQ(decode_image(image_test::raw_png(6, 4, 8, 2, rows, {}, {exif})).pixels, expected.pixels) << o << " late";
  }
}

TEST(ImageExif, OrientationCanBeTurnedOff) {
  const Bytes jpeg = image_test::with_app_segment(encode_jpeg(image_test::pattern_image(16, 8)), 0xE1,
                                                  image_test::exif_app1_payload(6, false));
  DecodeOptions options;
  options.apply_exif_orientation = false;
  EXPECT_EQ(decode_image(jpeg, options).width, 16);
  EXPECT_EQ(decode_image(jpeg).width, 8);
}

TEST(ImageExif, PixelCapCountsTheSamePixelsAfterRotation) {
  const Bytes jpeg = image_test::with_app_segment(encode_jpeg(image_test::pattern_image(20, 10)), 0xE1,
                                                  image_test::exif_app1_payload(8, false));
  DecodeOptions options;
  options.max_pixels = 200;
  const Image image = decode_image(jpeg, options);
  EXPECT_EQ(image.width, 10);
  EXPECT_EQ(image.height, 20);
  options.max_pixels = 199;
  EXPECT_EQ(image_test::code_of([&] { decode_image(jpeg, options); }), ErrorCode::kImageTooLarge);
}

}  // namespace
}  // namespace kprcnn

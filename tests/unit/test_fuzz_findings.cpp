// Bugs the fuzzers found (tests/fuzz), one test each, named after the target that found it. The reproducer of each
// is committed under tests/fuzz/regressions/<target>/ and replayed by the ctest fuzz_regressions.<target>; these
// tests state the fixed behaviour in the library's own terms.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "image/exif.h"
#include "kprcnn/error.h"
#include "kprcnn/image.h"
#include "kprcnn/json.h"
#include "test_image_util.h"

namespace kprcnn {
namespace {

// fuzz_colormap: a number beyond double's range made nlohmann throw out_of_range.406, which parse_colormap let
// escape as a non-kprcnn exception (the CLI's "internal error", a failed load in the server) instead of kColormap.
TEST(FuzzColormap, NumberOverflowIsAColormapError) {  // fault row 7 (model metadata), regressions/colormap
  for (const char* text : {R"({"items":[{"label":"a","color":[1e400,0,0]}]})", R"({"items":[],"x":-1e999})"}) {
    try {
      parse_colormap(text);
      ADD_FAILURE() << "accepted " << text;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kColormap) << text;
      EXPECT_NE(std::string(e.what()).find("not valid JSON"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("number overflow"), std::string::npos) << e.what();
    }
  }
}

// Found by review while writing fuzz_colormap (its 4 KiB inputs nest too shallowly to reach it): the error excerpt
// dumped the document with nlohmann's recursive serializer, so "[[[[...]]]]" 300,000 levels deep (600 KB: a
// colormap file or a model's metadata) overflowed the stack. Documents deeper than 64 levels are now refused while
// parsing. The committed input (regressions/colormap/deep-nesting-100.json) nests 100 levels: it replays the
// refusal; the overflow itself needs the size built here.
TEST(FuzzColormap, DeepNestingIsRefusedNotAStackOverflow) {  // fault row 7 (model metadata)
  const auto nested = [](int depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  for (const std::string& text :
       {nested(300'000), R"({"items":[{"label":"a","color":[0,0,0]}],"skeleton":[)" + nested(300'000) + "]}"}) {
    try {
      parse_colormap(text);
      ADD_FAILURE() << "accepted a deeply nested document";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kColormap);
      EXPECT_NE(std::string(e.what()).find("nests deeper than 64 levels"), std::string::npos) << e.what();
    }
  }
  // Anything a colormap needs is far shallower: an unused key nesting 60 levels is still accepted.
  const Colormap ok = parse_colormap(R"({"items":[{"label":"a","color":[0,0,0]}],"extra":)" + nested(60) + "}");
  EXPECT_EQ(ok.keypoints.size(), 1u);
}

// Peak virtual memory of this process in kB (/proc/self/status VmPeak): ctest runs each test in its own process.
long vm_peak_kb() {
  std::ifstream status("/proc/self/status");
  std::string key;
  long value = 0;
  while (status >> key) {
    if (key == "VmPeak:") {
      status >> value;
      return value;
    }
    status.ignore(1 << 12, '\n');
  }
  return -1;
}

// fuzz_decode (a run of ~170 ms per input under ASan gave it away): libpng allocates the length a variable-length
// chunk declares before reading it, so a 300-byte PNG declaring a 1 GB eXIf reserved 1 GB per decode (pCAL and
// sCAL likewise). Those chunks are now skipped by libpng (eXIf is found in the file's own bytes); no declared
// length is allocated.
TEST(FuzzDecode, DeclaredHugeChunksAreNeverAllocated) {  // fault row 3 (memory stays bounded), regressions/decode
  const std::vector<image_test::Bytes> rows(4, image_test::Bytes(15, 100));
  const image_test::Bytes good = image_test::raw_png(5, 4, 8, 2, rows);
  decode_image(good);  // libpng's own first-use allocations, before the baseline
  for (const std::string type : {"eXIf", "pCAL", "sCAL", "tEXt", "zTXt", "iTXt", "iCCP", "sPLT", "abCd"}) {
    image_test::Bytes bomb(good.begin(), good.begin() + 33);  // signature + IHDR
    image_test::put_be32(bomb, 0x40000000u);                  // a chunk declaring 1 GiB, then 64 bytes and the end
    for (const char c : type + "MM") bomb.push_back(static_cast<std::uint8_t>(c));
    bomb.resize(bomb.size() + 64, 0x1F);
    const long before = vm_peak_kb();
    ASSERT_GT(before, 0);
    try {
      decode_image(bomb);
      ADD_FAILURE() << "decoded a PNG whose " << type << " runs 1 GiB past its end";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kImageDecode) << type;
      EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << type << ": " << e.what();
    }
    EXPECT_LT(vm_peak_kb() - before, 64 * 1024) << "kB of address space taken by decoding a 1 GiB " << type;
  }
}

// The eXIf libpng would have kept, found without it: a chunk with a bad CRC or no byte-order mark is passed over
// and the next good one used, before or after the image data.
TEST(FuzzDecode, PngExifIsTheFirstIntactChunk) {
  using image_detail::apply_exif_orientation;
  const Image source = image_test::coordinate_image(6, 4);
  std::vector<image_test::Bytes> rows;
  for (int y = 0; y < 4; ++y) rows.emplace_back(source.row(y), source.row(y) + 18);
  const image_test::PngChunk rotate6{"eXIf", image_test::tiff_with_orientation(6, false)};
  const image_test::PngChunk rotate3{"eXIf", image_test::tiff_with_orientation(3, true)};
  image_test::PngChunk no_mark{"eXIf", image_test::tiff_with_orientation(8, false)};
  no_mark.data[0] = 'M';  // "MI": not a byte order
  Image expected6 = source, expected3 = source;
  apply_exif_orientation(expected6, 6);
  apply_exif_orientation(expected3, 3);
  EXPECT_EQ(decode_image(image_test::raw_png(6, 4, 8, 2, rows, {no_mark}, {rotate6})).pixels, expected6.pixels);
  EXPECT_EQ(decode_image(image_test::raw_png(6, 4, 8, 2, rows, {rotate6}, {rotate3})).pixels, expected6.pixels);
  image_test::Bytes bad_crc = image_test::raw_png(6, 4, 8, 2, rows, {rotate3}, {rotate6});
  bad_crc[33 + 8 + rotate3.data.size()] ^= 0xFF;  // the CRC of the first eXIf (right after IHDR)
  EXPECT_EQ(decode_image(bad_crc).pixels, expected6.pixels);
}

}  // namespace
}  // namespace kprcnn

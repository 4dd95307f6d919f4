// Image decoding from memory (fault rows 1-5): format sniffing, JPEG and PNG through libjpeg-turbo and
// libpng, every colour conversion, EXIF orientation, the pixel and scan caps, and the DCT-scaled fast path
// (decode_image_reduced). Invariants: the result is a consistent RGB8 image within the cap, or a kImageDecode /
// kImageTooLarge error; nothing else escapes; the fast path reports the full decode's size.
#include <cstdint>
#include <span>

#include "fuzz_input.h"
#include "kprcnn/error.h"
#include "kprcnn/image.h"

namespace {
// Small caps keep every execution fast and bounded in memory (the real defaults are checked by the unit tests).
constexpr std::uint64_t kMaxPixels = 1 << 18;
constexpr int kMaxScans = 64;

void check_image(const kprcnn::Image& image) {
  if (image.empty()) kprcnn::fuzz::fail("decoded an empty image");
  const std::uint64_t pixels = static_cast<std::uint64_t>(image.width) * static_cast<std::uint64_t>(image.height);
  if (pixels > kMaxPixels) kprcnn::fuzz::fail("decoded image over the pixel cap");
  if (image.pixels.size() != pixels * 3) kprcnn::fuzz::fail("pixel buffer size is not width * height * 3");
  // Touch every byte: uninitialised or freed memory shows up here rather than in a caller.
  unsigned sum = 0;
  for (const std::uint8_t v : image.pixels) sum += v;
  if (sum == 0xFFFFFFFFu) kprcnn::fuzz::fail("unreachable");
}

void check_error(const kprcnn::Error& e) {
  if (e.code() != kprcnn::ErrorCode::kImageDecode && e.code() != kprcnn::ErrorCode::kImageTooLarge) {
    kprcnn::fuzz::fail("unexpected error code from the decoder:", e.what());
  }
  if (e.what()[0] == '\0') kprcnn::fuzz::fail("error without a message");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace kprcnn;
  const std::span<const std::uint8_t> bytes(data, size);
  DecodeOptions options;
  options.max_pixels = kMaxPixels;
  options.max_jpeg_scans = kMaxScans;
  const ImageFormat format = sniff_format(bytes);
  int full_width = 0, full_height = 0;
  try {
    const Image image = decode_image(bytes, options);
    if (format == ImageFormat::kUnknown) fuzz::fail("decoded an input that sniffs as unknown");
    check_image(image);
    full_width = image.width;
    full_height = image.height;
  } catch (const Error& e) {
    check_error(e);
  }
  if (format != ImageFormat::kJpeg) return 0;

  // The fast path (--fast-decode): libjpeg-turbo's DCT scaling. It reports the full size, as the full decode sees
  // it, and never gives more pixels than that.
  try {
    const ReducedImage reduced = decode_image_reduced(bytes, 1 + static_cast<int>(size % 4), options);
    check_image(reduced.image);
    if (reduced.image.width > reduced.source_width || reduced.image.height > reduced.source_height) {
      fuzz::fail("reduced image larger than its source");
    }
    if (full_width != 0 && (reduced.source_width != full_width || reduced.source_height != full_height)) {
      fuzz::fail("reduced decode reports another source size than the full decode");
    }
  } catch (const Error& e) {
    check_error(e);
  }
  return 0;
}

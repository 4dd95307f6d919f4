// Image decoding from memory (RELIABILITY rows 1-5): format sniffing, JPEG and PNG through libjpeg-turbo and
// libpng, every colour conversion, EXIF orientation, the pixel and scan caps. Invariants: the result is a
// consistent RGB8 image within the cap, or a kImageDecode / kImageTooLarge error; nothing else escapes.
#include <cstdint>
#include <span>

#include "fuzz_input.h"
#include "kprcnn/error.h"
#include "kprcnn/image.h"

namespace {
// Small caps keep every execution fast and bounded in memory (the real defaults are checked by the unit tests).
constexpr std::uint64_t kMaxPixels = 1 << 18;
constexpr int kMaxScans = 64;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace kprcnn;
  const std::span<const std::uint8_t> bytes(data, size);
  DecodeOptions options;
  options.max_pixels = kMaxPixels;
  options.max_jpeg_scans = kMaxScans;
  const ImageFormat format = sniff_format(bytes);
  try {
    const Image image = decode_image(bytes, options);
    if (format == ImageFormat::kUnknown) fuzz::fail("decoded an input that sniffs as unknown");
    if (image.empty()) fuzz::fail("decoded an empty image");
    const std::uint64_t pixels = static_cast<std::uint64_t>(image.width) * static_cast<std::uint64_t>(image.height);
    if (pixels > kMaxPixels) fuzz::fail("decoded image over the pixel cap");
    if (image.pixels.size() != pixels * 3) fuzz::fail("pixel buffer size is not width * height * 3");
    // Touch every byte: uninitialised or freed memory shows up under MSan/ASan here rather than in a caller.
    unsigned sum = 0;
    for (const std::uint8_t v : image.pixels) sum += v;
    if (sum == 0xFFFFFFFFu) fuzz::fail("unreachable");
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kImageDecode && e.code() != ErrorCode::kImageTooLarge) {
      fuzz::fail("unexpected error code from decode_image:", e.what());
    }
    if (e.what()[0] == '\0') fuzz::fail("error without a message");
  }
  return 0;
}

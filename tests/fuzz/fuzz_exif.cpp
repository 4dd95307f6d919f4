// The hand-written EXIF reader (src/image/exif.cpp) on arbitrary blocks, and the orientation transposes.
// Invariants: the orientation is always 1..8; transposing swaps the sides for 5..8 and keeps every pixel.
#include <cstdint>
#include <span>

#include "fuzz_input.h"
#include "image/exif.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace kprcnn;
  const std::span<const std::uint8_t> block(data, size);
  const int orientation = image_detail::exif_orientation(block);
  if (orientation < 1 || orientation > 8) fuzz::fail("orientation outside 1..8");

  // A small image whose pixel values are their own index, so that a transpose that loses or duplicates a pixel is
  // seen: the multiset of values must survive (every value is distinct when w * h <= 2^24).
  // Its size comes from the last bytes, which the EXIF reader rarely cares about.
  const int w = 1 + (size > 0 ? data[size - 1] : 0) % 17, h = 1 + (size > 1 ? data[size - 2] : 0) % 13;
  Image image(w, h);
  for (int i = 0; i < w * h; ++i) {
    image.pixels[3 * static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(i);
    image.pixels[3 * static_cast<std::size_t>(i) + 1] = static_cast<std::uint8_t>(i >> 8);
  }
  std::uint64_t before = 0;
  for (const std::uint8_t v : image.pixels) before += v;
  image_detail::apply_exif_orientation(image, orientation);
  const bool swapped = orientation >= 5;
  if (image.width != (swapped ? h : w) || image.height != (swapped ? w : h)) fuzz::fail("wrong size after transpose");
  if (image.pixels.size() != static_cast<std::size_t>(w) * h * 3) fuzz::fail("pixel buffer size changed");
  std::uint64_t after = 0;
  for (const std::uint8_t v : image.pixels) after += v;
  if (before != after) fuzz::fail("transpose lost or duplicated pixels");
  return 0;
}

#include <cstring>
#include <string>

#include "kprcnn/error.h"
#include "kprcnn/image.h"

namespace kprcnn {

Image::Image(int w, int h) {
  if (w < 0 || h < 0) {
    throw Error(ErrorCode::kInvalidArgument,
                "image size " + std::to_string(w) + "x" + std::to_string(h) + " is negative");
  }
  pixels.assign(static_cast<std::size_t>(w) * static_cast<std::size_t>(h) * 3, 0);
  width = w;
  height = h;
}

ImageFormat sniff_format(std::span<const std::uint8_t> bytes) noexcept {
  static constexpr std::uint8_t kJpeg[] = {0xFF, 0xD8, 0xFF};
  static constexpr std::uint8_t kPng[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (bytes.size() >= sizeof kJpeg && std::memcmp(bytes.data(), kJpeg, sizeof kJpeg) == 0) return ImageFormat::kJpeg;
  if (bytes.size() >= sizeof kPng && std::memcmp(bytes.data(), kPng, sizeof kPng) == 0) return ImageFormat::kPng;
  return ImageFormat::kUnknown;
}

}  // namespace kprcnn

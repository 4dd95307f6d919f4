#include "image/exif.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace kprcnn::image_detail {
namespace {

constexpr std::uint16_t kOrientationTag = 0x0112;

// Size in bytes of one value of each TIFF field type Pillow knows; 0 for unknown types (Pillow skips those
// entries without looking at their data).
std::uint64_t tiff_type_size(std::uint32_t type) noexcept {
  switch (type) {
    case 1:
    case 2:
    case 6:
    case 7: return 1;  // BYTE, ASCII, SBYTE, UNDEFINED
    case 3:
    case 8: return 2;  // SHORT, SSHORT
    case 4:
    case 9:
    case 11:
    case 13: return 4;  // LONG, SLONG, FLOAT, IFD
    case 5:
    case 10:
    case 12:
    case 16: return 8;  // RATIONAL, SRATIONAL, DOUBLE, LONG8
    default: return 0;
  }
}

// Bounds-checked integer reads from the TIFF block in its byte order.
class TiffBytes {
 public:
  TiffBytes(std::span<const std::uint8_t> bytes, bool little_endian) : bytes_(bytes), little_(little_endian) {}

  bool has(std::uint64_t offset, std::uint64_t length) const noexcept {
    return offset <= bytes_.size() && length <= bytes_.size() - offset;
  }
  // Callers check has(offset, 2/4) first.
  std::uint32_t u16(std::size_t offset) const noexcept {
    const std::uint32_t a = bytes_[offset], b = bytes_[offset + 1];
    return little_ ? (a | b << 8) : (a << 8 | b);
  }
  std::uint32_t u32(std::size_t offset) const noexcept {
    const std::uint32_t lo = u16(offset + (little_ ? 0 : 2)), hi = u16(offset + (little_ ? 2 : 0));
    return lo | hi << 16;
  }
  std::uint64_t u64(std::size_t offset) const noexcept {
    const std::uint64_t lo = u32(offset + (little_ ? 0 : 4)), hi = u32(offset + (little_ ? 4 : 0));
    return lo | hi << 32;
  }
  std::uint8_t u8(std::size_t offset) const noexcept { return bytes_[offset]; }

 private:
  std::span<const std::uint8_t> bytes_;
  bool little_;
};

// The first value of an orientation entry as Pillow would compare it with 1..8; 0 when the type holds no integer.
std::int64_t first_integer_value(const TiffBytes& tiff, std::uint32_t type, std::size_t offset) noexcept {
  switch (type) {
    case 3: return tiff.u16(offset);  // SHORT
    case 4:
    case 13: return tiff.u32(offset);                                                         // LONG, IFD
    case 16: return tiff.u64(offset) <= 8 ? static_cast<std::int64_t>(tiff.u64(offset)) : 0;  // LONG8
    case 6: return static_cast<std::int8_t>(tiff.u8(offset));                                 // SBYTE
    case 8: return static_cast<std::int16_t>(tiff.u16(offset));                               // SSHORT
    case 9: return static_cast<std::int32_t>(tiff.u32(offset));                               // SLONG
    default: return 0;  // BYTE and UNDEFINED are bytes in Pillow, ASCII a string; rationals/floats not supported
  }
}

}  // namespace

int exif_orientation(std::span<const std::uint8_t> exif) noexcept {
  static constexpr std::uint8_t kExifPrefix[] = {'E', 'x', 'i', 'f', 0, 0};
  if (exif.size() >= sizeof kExifPrefix && std::memcmp(exif.data(), kExifPrefix, sizeof kExifPrefix) == 0) {
    exif = exif.subspan(sizeof kExifPrefix);
  }
  if (exif.size() < 8) return 1;
  bool little_endian = false;
  if (exif[0] == 'I' && exif[1] == 'I') {
    little_endian = true;
  } else if (!(exif[0] == 'M' && exif[1] == 'M')) {
    return 1;
  }
  // Pillow accepts the 42 marker in either byte order.
  if (!((exif[2] == 0x2A && exif[3] == 0) || (exif[2] == 0 && exif[3] == 0x2A))) return 1;
  const TiffBytes tiff(exif, little_endian);

  const std::uint64_t ifd = tiff.u32(4);
  if (!tiff.has(ifd, 2)) return 1;
  const std::uint32_t entry_count = tiff.u16(static_cast<std::size_t>(ifd));
  std::int64_t orientation = 1;
  std::uint64_t entry = ifd + 2;
  for (std::uint32_t i = 0; i < entry_count; ++i, entry += 12) {
    if (!tiff.has(entry, 12)) break;  // Pillow stops at a short entry and keeps what it has read
    const auto at = static_cast<std::size_t>(entry);
    const std::uint32_t tag = tiff.u16(at);
    const std::uint32_t type = tiff.u16(at + 2);
    const std::uint64_t count = tiff.u32(at + 4);
    const std::uint64_t unit = tiff_type_size(type);
    if (unit == 0) continue;
    const std::uint64_t size = unit * count;  // at most 8 * (2^32 - 1): no overflow
    std::uint64_t data = entry + 8;
    if (size > 4) {
      data = tiff.u32(at + 8);
      if (!tiff.has(data, size)) break;  // Pillow: "Truncated File Read" ends the directory
    }
    if (tag != kOrientationTag || size == 0) continue;
    orientation = first_integer_value(tiff, type, static_cast<std::size_t>(data));  // a later duplicate wins
  }
  return orientation >= 1 && orientation <= 8 ? static_cast<int>(orientation) : 1;
}

namespace {

// dst(x, y) = src(map(x, y)) for every destination pixel, walking the destination in tiles so that the source
// reads of a transposing orientation stay within a few cache lines.
template <typename SourceOf>
void remap_pixels(const Image& src, Image& dst, SourceOf source_of) {
  constexpr int kTile = 64;
  for (int ty = 0; ty < dst.height; ty += kTile) {
    const int y_end = std::min(ty + kTile, dst.height);
    for (int tx = 0; tx < dst.width; tx += kTile) {
      const int x_end = std::min(tx + kTile, dst.width);
      for (int y = ty; y < y_end; ++y) {
        std::uint8_t* out = dst.row(y) + static_cast<std::size_t>(tx) * 3;
        for (int x = tx; x < x_end; ++x, out += 3) {
          const auto [sx, sy] = source_of(x, y);
          const std::uint8_t* in = src.row(sy) + static_cast<std::size_t>(sx) * 3;
          out[0] = in[0];
          out[1] = in[1];
          out[2] = in[2];
        }
      }
    }
  }
}

void mirror_rows(Image& image) {
  for (int y = 0; y < image.height; ++y) {
    std::uint8_t* left = image.row(y);
    std::uint8_t* right = left + (static_cast<std::size_t>(image.width) - 1) * 3;
    for (; left < right; left += 3, right -= 3) std::swap_ranges(left, left + 3, right);
  }
}

void mirror_columns(Image& image) {
  const std::size_t stride = static_cast<std::size_t>(image.width) * 3;
  for (int top = 0, bottom = image.height - 1; top < bottom; ++top, --bottom) {
    std::swap_ranges(image.row(top), image.row(top) + stride, image.row(bottom));
  }
}

}  // namespace

void apply_exif_orientation(Image& image, int orientation) {
  if (image.empty()) return;
  const int w = image.width, h = image.height;
  switch (orientation) {
    case 2: mirror_rows(image); return;  // FLIP_LEFT_RIGHT
    case 3:                              // ROTATE_180
      mirror_rows(image);
      mirror_columns(image);
      return;
    case 4: mirror_columns(image); return;  // FLIP_TOP_BOTTOM
    case 5:
    case 6:
    case 7:
    case 8: break;
    default: return;
  }
  Image out(h, w);
  switch (orientation) {
    case 5: remap_pixels(image, out, [](int x, int y) { return std::pair{y, x}; }); break;           // TRANSPOSE
    case 6: remap_pixels(image, out, [h](int x, int y) { return std::pair{y, h - 1 - x}; }); break;  // ROTATE_270
    case 7:                                                                                          // TRANSVERSE
      remap_pixels(image, out, [w, h](int x, int y) { return std::pair{w - 1 - y, h - 1 - x}; });
      break;
    default: remap_pixels(image, out, [w](int x, int y) { return std::pair{w - 1 - y, x}; }); break;  // ROTATE_90
  }
  image = std::move(out);
}

}  // namespace kprcnn::image_detail

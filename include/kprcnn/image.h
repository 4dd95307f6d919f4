// kprcnn/image.h — decoded images, decoding, encoding and atomic file writes.
//
// Pixel layout of kprcnn::Image: 8-bit RGB, interleaved (R,G,B,R,G,B,...), rows top-left first, no padding, so
// pixels.size() == width * height * 3 and pixel (x, y) starts at (y * width + x) * 3.
//
// Decoding (JPEG via libjpeg-turbo, PNG via libpng, format sniffed from the bytes, never from the file name):
//  - every input becomes RGB8: grey, grey+alpha, palette, RGBA (alpha dropped, as Pillow's convert("RGB")),
//    16-bit RGB(A) and grey+alpha (high byte), 16-bit grey (clipped at 255, as Pillow's "I;16" → "RGB"),
//    CMYK/YCCK JPEG (Adobe inverted CMYK, converted as Pillow does);
//  - the EXIF orientation (JPEG APP1; PNG eXIf) is applied, so coordinates are those of the image as displayed;
//  - the declared width*height is checked against DecodeOptions::max_pixels from the header, before any pixel
//    buffer is allocated (decompression-bomb guard); progressive JPEGs are limited in scan count.
// Security: inputs are treated as hostile. Decoders are OSS-Fuzz'd libraries; every failure is a kprcnn::Error
// (kImageDecode or kImageTooLarge), never a crash or a longjmp through our frames.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kprcnn {

struct Image {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> pixels;  // RGB8, width * height * 3 bytes

  Image() = default;
  Image(int w, int h);  // zero-filled; throws kInvalidArgument on negative sizes
  bool empty() const noexcept { return width <= 0 || height <= 0; }
  std::uint8_t* row(int y) noexcept { return pixels.data() + static_cast<std::size_t>(y) * width * 3; }
  const std::uint8_t* row(int y) const noexcept { return pixels.data() + static_cast<std::size_t>(y) * width * 3; }
};

enum class ImageFormat { kUnknown, kJpeg, kPng };

// Format from the leading magic bytes.
ImageFormat sniff_format(std::span<const std::uint8_t> bytes) noexcept;

struct DecodeOptions {
  // Pixel cap checked from the header before allocating. Default: Pillow's decompression-bomb error limit
  // (2 x 89,478,485). 0 disables the cap (not recommended for untrusted input).
  std::uint64_t max_pixels = 178'956'970;
  bool apply_exif_orientation = true;
  // Progressive JPEGs with more scans than this are rejected (libjpeg-turbo's scan-count guard).
  int max_jpeg_scans = 1000;
};

Image decode_image(std::span<const std::uint8_t> bytes, const DecodeOptions& options = {});
Image read_image(const std::filesystem::path& path, const DecodeOptions& options = {});

// Fast mode only: a JPEG decoded at reduced size with libjpeg-turbo's DCT scaling, the largest of 1/2, 1/4, 1/8
// that keeps the shorter side >= min_shorter_side (a 4032x3024 photo for a 512 model input: 1008x756, 1/4). Much
// faster than a full decode, but the pixels are not Pillow's full decode + Image.resize: exact mode never uses
// it. PNGs and JPEGs too small to reduce decode at full size. source_width/height: the full size (EXIF
// orientation applied), the frame to report coordinates in (PredictOptions::source_width/height).
struct ReducedImage {
  Image image;
  int source_width = 0, source_height = 0;
};
ReducedImage decode_image_reduced(std::span<const std::uint8_t> bytes, int min_shorter_side,
                                  const DecodeOptions& options = {});

std::vector<std::uint8_t> encode_png(const Image& image);
std::vector<std::uint8_t> encode_jpeg(const Image& image, int quality = 90);

// Encode by extension (.png, .jpg/.jpeg) and write atomically.
void write_image(const Image& image, const std::filesystem::path& path, int jpeg_quality = 90);

// Write to a temporary file in the same folder, fsync, then rename over `path`: readers see the old file or the
// whole new one, never a truncated file under the final name. On failure the temporary is removed and a kIo error
// names the path and the reason (unwritable folder, disk full, ...).
void write_file_atomic(const std::filesystem::path& path, std::span<const std::uint8_t> bytes);
void write_file_atomic(const std::filesystem::path& path, std::string_view text);

// Whole file into memory; kIo error naming the path on failure.
std::vector<std::uint8_t> read_file(const std::filesystem::path& path);

}  // namespace kprcnn

// image/decode.cpp — JPEG (libjpeg-turbo) and PNG (libpng) into RGB8, with pixel caps and EXIF orientation.
//
// Errors from the C libraries: both report a fatal error through a callback that must not return. Ours record the
// message and longjmp to a setjmp in a small "guarded" function whose frame holds only trivially destructible state
// (pointers and integers); the jump crosses nothing but the library's C frames, so no C++ destructor is skipped.
// Every C++ object (pixel buffer, row pointers, the RAII owner of the library state) lives in a caller of the
// guarded function and outlives the jump. A guarded function returns false and its caller throws kprcnn::Error.
//
// Pillow 9.4 (built on the same libjpeg-turbo) is the reference for every conversion: a Python pipeline that does
// ImageOps.exif_transpose(Image.open(f)).convert("RGB") sees the same pixels (tests/python/test_decode_vs_pillow.py).

// png.h first: it includes <setjmp.h> itself.
#include <png.h>
#include <zlib.h>

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <jerror.h>   // message codes (JWRN_*)
#include <jpeglib.h>  // after <cstdio>: it uses FILE and size_t without including anything

#include "image/exif.h"
#include "kprcnn/error.h"
#include "kprcnn/image.h"

namespace kprcnn {
namespace {

constexpr char kDamagedHint[] = "the file is damaged or incomplete: re-export or re-download it";

// Width/height from a header: reject empty images and anything above the pixel cap before allocating pixels.
void check_declared_size(std::uint64_t width, std::uint64_t height, const DecodeOptions& options, const char* format) {
  const std::string size = std::to_string(width) + "x" + std::to_string(height);
  if (width == 0 || height == 0) {
    throw Error(ErrorCode::kImageDecode, std::string(format) + " header declares an empty image (" + size + ")");
  }
  const std::uint64_t pixels = width * height;  // JPEG: < 2^32, PNG: < 2^62
  if (options.max_pixels != 0 && pixels > options.max_pixels) {
    throw Error(ErrorCode::kImageTooLarge, std::string(format) + " image is " + size + " = " + std::to_string(pixels) +
                                               " pixels, more than the limit of " + std::to_string(options.max_pixels) +
                                               " (DecodeOptions::max_pixels): downscale it first");
  }
}

// The zero-filled output image; running out of memory is reported as "too large", not as a crash.
Image allocate_image(std::uint64_t width, std::uint64_t height) {
  try {
    return Image(static_cast<int>(width), static_cast<int>(height));
  } catch (const std::bad_alloc&) {
  } catch (const std::length_error&) {
  }
  throw Error(ErrorCode::kImageTooLarge,
              "not enough memory to decode a " + std::to_string(width) + "x" + std::to_string(height) + " image");
}

// ----------------------------------------------------------------------------------------------------------------
// JPEG

struct JpegErrorManager {
  jpeg_error_mgr pub;  // first member: libjpeg hands &pub to the callbacks, which cast it back
  std::jmp_buf jump;
  int max_scans;
  bool truncated;
  bool too_many_scans;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void jpeg_on_error(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegErrorManager*>(cinfo->err);
  if (err->message[0] == '\0') (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Warnings (level -1) are corrupt-data reports. libjpeg carries on after them, filling what is missing with grey;
// a premature end of the data (end of file, or a marker in the middle of a scan) is an error for us. Other
// warnings (extraneous bytes before a marker, ...) are common in camera files and tolerated, as by Pillow.
void jpeg_on_message(j_common_ptr cinfo, int level) {
  if (level >= 0) return;  // trace messages
  auto* err = reinterpret_cast<JpegErrorManager*>(cinfo->err);
  ++err->pub.num_warnings;
  if (err->pub.msg_code == JWRN_JPEG_EOF || err->pub.msg_code == JWRN_HIT_MARKER) {
    err->truncated = true;
    (*cinfo->err->format_message)(cinfo, err->message);
    std::longjmp(err->jump, 1);
  }
}

// libjpeg-turbo's documented guard against progressive scan bombs (djpeg -maxscans): a progress monitor that
// stops once the input scan number passes the limit. It runs for every row/scan consumed.
void jpeg_on_progress(j_common_ptr cinfo) {
  if (cinfo->is_decompressor == 0) return;
  auto* err = reinterpret_cast<JpegErrorManager*>(cinfo->err);
  if (reinterpret_cast<j_decompress_ptr>(cinfo)->input_scan_number > err->max_scans) {
    err->too_many_scans = true;
    std::snprintf(err->message, sizeof err->message, "more than %d scans", err->max_scans);
    std::longjmp(err->jump, 1);
  }
}

// Owns the libjpeg decompressor; plain data apart from the destructor.
struct JpegDecoder {
  jpeg_decompress_struct cinfo{};
  JpegErrorManager err{};
  jpeg_progress_mgr progress{};
  bool unsupported_colors = false;
  int min_shorter_side = 0;  // > 0: DCT-scaled decode (decode_image_reduced)

  explicit JpegDecoder(int max_scans) {
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = jpeg_on_error;
    err.pub.emit_message = jpeg_on_message;
    err.max_scans = max_scans;
    progress.progress_monitor = jpeg_on_progress;
  }
  ~JpegDecoder() { jpeg_destroy_decompress(&cinfo); }  // no-op when creation never happened (cinfo.mem null)
  JpegDecoder(const JpegDecoder&) = delete;
  JpegDecoder& operator=(const JpegDecoder&) = delete;
};

// Guarded (see the top of the file): header, output colour space and output size. Allocates nothing large.
bool jpeg_read_header_guarded(JpegDecoder* d, const std::uint8_t* data, std::size_t size) {
  if (setjmp(d->err.jump) != 0) return false;
  jpeg_create_decompress(&d->cinfo);
  d->cinfo.progress = &d->progress;
  jpeg_mem_src(&d->cinfo, data, static_cast<unsigned long>(size));
  jpeg_save_markers(&d->cinfo, JPEG_APP0 + 1, 0xFFFF);  // APP1: EXIF
  jpeg_read_header(&d->cinfo, TRUE);
  // Pillow decides by component count: 1 grey, 3 RGB (libjpeg converts YCbCr/RGB), 4 CMYK (YCCK converted to
  // CMYK by libjpeg). Default DCT (JDCT_ISLOW) and fancy upsampling, as Pillow's decoder leaves them.
  switch (d->cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
    case JCS_YCbCr:
    case JCS_RGB: d->cinfo.out_color_space = JCS_RGB; break;
    case JCS_CMYK:
    case JCS_YCCK: d->cinfo.out_color_space = JCS_CMYK; break;
    default: d->unsupported_colors = true; return true;
  }
  d->cinfo.dct_method = JDCT_ISLOW;
  if (d->min_shorter_side > 0) {
    // The largest of libjpeg's fast reductions (1/8, 1/4, 1/2) whose exact scaled shorter side (before libjpeg
    // rounds it up) is still >= the request, so that the model input is never upsampled from it.
    const unsigned shorter = std::min(d->cinfo.image_width, d->cinfo.image_height);
    for (unsigned denom : {8u, 4u, 2u}) {
      if (shorter / denom >= static_cast<unsigned>(d->min_shorter_side)) {
        d->cinfo.scale_num = 1;
        d->cinfo.scale_denom = denom;
        break;
      }
    }
  }
  jpeg_calc_output_dimensions(&d->cinfo);
  return true;
}

// (a * b) / 255 rounded, exactly as Pillow's MULDIV255.
inline unsigned muldiv255(unsigned a, unsigned b) {
  const unsigned t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}

// libjpeg returns 4-component JPEGs as stored, in Adobe's inverted polarity (0 = full ink). Pillow always assumes
// that polarity (rawmode "CMYK;I" inverts back) and converts with cmyk2rgb: nk = 255 - k, r = nk - c * nk / 255.
// With the stored (inverted) bytes c' = 255 - c and k' = nk this is r = k' - muldiv255(255 - c', k').
void adobe_cmyk_to_rgb(const std::uint8_t* cmyk, std::uint8_t* rgb, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i, cmyk += 4, rgb += 3) {
    const unsigned k = cmyk[3];
    rgb[0] = static_cast<std::uint8_t>(k - muldiv255(255u - cmyk[0], k));
    rgb[1] = static_cast<std::uint8_t>(k - muldiv255(255u - cmyk[1], k));
    rgb[2] = static_cast<std::uint8_t>(k - muldiv255(255u - cmyk[2], k));
  }
}

// Guarded: decompression into `rgb` (output_width * output_height * 3 bytes). 4-component images go through
// `cmyk_row` (output_width * 4 bytes).
bool jpeg_decompress_guarded(JpegDecoder* d, std::uint8_t* rgb, std::uint8_t* cmyk_row) {
  if (setjmp(d->err.jump) != 0) return false;
  jpeg_start_decompress(&d->cinfo);
  const std::size_t width = d->cinfo.output_width;
  while (d->cinfo.output_scanline < d->cinfo.output_height) {
    std::uint8_t* out = rgb + static_cast<std::size_t>(d->cinfo.output_scanline) * width * 3;
    JSAMPROW row = cmyk_row != nullptr ? cmyk_row : out;
    if (jpeg_read_scanlines(&d->cinfo, &row, 1) != 1) {
      std::snprintf(d->err.message, sizeof d->err.message, "libjpeg returned no scanline");
      return false;
    }
    if (cmyk_row != nullptr) adobe_cmyk_to_rgb(cmyk_row, out, width);
  }
  jpeg_finish_decompress(&d->cinfo);  // reads up to EOI: a file cut after the last scan is also truncated
  return true;
}

[[noreturn]] void throw_jpeg_error(const JpegDecoder& d) {
  const std::string detail = d.err.message[0] != '\0' ? d.err.message : "unknown libjpeg error";
  if (d.err.too_many_scans) {
    throw Error(ErrorCode::kImageDecode, "progressive JPEG has " + detail +
                                             " (limit: DecodeOptions::max_jpeg_scans): a decompression bomb or a "
                                             "broken encoder; re-encode it as a baseline JPEG");
  }
  if (d.err.truncated) {
    throw Error(ErrorCode::kImageDecode,
                "JPEG data is truncated or corrupt (libjpeg: " + detail + "); " + kDamagedHint);
  }
  throw Error(ErrorCode::kImageDecode, "JPEG decode failed (libjpeg: " + detail + "); " + kDamagedHint);
}

// EXIF orientation from the first APP1 segment that starts with "Exif\0" (Pillow keeps the first one).
int jpeg_exif_orientation(const jpeg_decompress_struct& cinfo) {
  for (jpeg_saved_marker_ptr m = cinfo.marker_list; m != nullptr; m = m->next) {
    if (m->marker == JPEG_APP0 + 1 && m->data_length >= 5 && std::memcmp(m->data, "Exif", 5) == 0) {
      return image_detail::exif_orientation({m->data, m->data_length});
    }
  }
  return 1;
}

Image decode_jpeg(std::span<const std::uint8_t> bytes, const DecodeOptions& options, int min_shorter_side = 0,
                  int* source_width = nullptr, int* source_height = nullptr) {
  JpegDecoder d(options.max_jpeg_scans);
  d.min_shorter_side = min_shorter_side;
  if (!jpeg_read_header_guarded(&d, bytes.data(), bytes.size())) throw_jpeg_error(d);
  check_declared_size(d.cinfo.image_width, d.cinfo.image_height, options, "JPEG");
  if (d.unsupported_colors) {
    throw Error(ErrorCode::kImageDecode, "unsupported JPEG colour space (" + std::to_string(d.cinfo.num_components) +
                                             " components): only grey, RGB/YCbCr and CMYK/YCCK JPEGs are read");
  }
  check_declared_size(d.cinfo.output_width, d.cinfo.output_height, options, "JPEG");
  const int orientation = options.apply_exif_orientation ? jpeg_exif_orientation(d.cinfo) : 1;
  if (source_width != nullptr && source_height != nullptr) {
    const bool transposed = orientation >= 5;  // EXIF 5..8 swap the axes
    *source_width = static_cast<int>(transposed ? d.cinfo.image_height : d.cinfo.image_width);
    *source_height = static_cast<int>(transposed ? d.cinfo.image_width : d.cinfo.image_height);
  }

  const bool cmyk = d.cinfo.out_color_space == JCS_CMYK;
  if (d.cinfo.output_components != (cmyk ? 4 : 3)) {
    throw Error(ErrorCode::kInternal, "libjpeg produced " + std::to_string(d.cinfo.output_components) +
                                          " components per pixel; please report this file");
  }

  Image image = allocate_image(d.cinfo.output_width, d.cinfo.output_height);
  std::vector<std::uint8_t> cmyk_row(cmyk ? std::size_t{d.cinfo.output_width} * 4 : 0);
  if (!jpeg_decompress_guarded(&d, image.pixels.data(), cmyk_row.empty() ? nullptr : cmyk_row.data())) {
    throw_jpeg_error(d);
  }
  image_detail::apply_exif_orientation(image, orientation);
  return image;
}

// ----------------------------------------------------------------------------------------------------------------
// PNG

// Owns the libpng reader and the input cursor; plain data apart from the destructor.
struct PngDecoder {
  png_structp png = nullptr;
  png_infop info = nullptr;
  std::jmp_buf jump;
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
  std::size_t pos = 0;
  bool truncated = false;
  char message[256] = {};
  char warning[256] = {};
  // IHDR
  png_uint_32 width = 0, height = 0;
  int bit_depth = 0, color_type = 0, interlace = 0;
  bool grey16 = false;  // 16-bit grey: read as 16-bit and clipped by hand (see clip_grey16_rows)

  PngDecoder(const std::uint8_t* bytes, std::size_t count) : data(bytes), size(count) {}
  ~PngDecoder() {
    if (png != nullptr) png_destroy_read_struct(&png, info != nullptr ? &info : nullptr, nullptr);
  }
  PngDecoder(const PngDecoder&) = delete;
  PngDecoder& operator=(const PngDecoder&) = delete;
};

[[noreturn]] void png_on_error(png_structp png, png_const_charp message) {
  auto* d = static_cast<PngDecoder*>(png_get_error_ptr(png));
  if (d->message[0] == '\0') std::snprintf(d->message, sizeof d->message, "%s", message ? message : "error");
  std::longjmp(d->jump, 1);
}

// Benign problems (bad CRC in an ancillary chunk, extra compressed data, ...) are ignored, as by Pillow. The last
// one is kept: libpng often warns with the specific reason just before a generic error ("Invalid IHDR data").
void png_on_warning(png_structp png, png_const_charp message) {
  auto* d = static_cast<PngDecoder*>(png_get_error_ptr(png));
  std::snprintf(d->warning, sizeof d->warning, "%s", message ? message : "");
}

void png_read_bytes(png_structp png, png_bytep out, std::size_t count) {
  auto* d = static_cast<PngDecoder*>(png_get_io_ptr(png));
  if (count > d->size - d->pos) {
    d->truncated = true;
    png_error(png, "unexpected end of file");
  }
  std::memcpy(out, d->data + d->pos, count);
  d->pos += count;
}

// Guarded: create the reader, set the limits, read everything up to the first IDAT.
bool png_read_header_guarded(PngDecoder* d) {
  if (setjmp(d->jump) != 0) return false;
  d->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, d, png_on_error, png_on_warning);
  if (d->png == nullptr) {
    std::snprintf(d->message, sizeof d->message, "libpng could not be initialised");
    return false;
  }
  d->info = png_create_info_struct(d->png);
  if (d->info == nullptr) {
    std::snprintf(d->message, sizeof d->message, "libpng could not be initialised");
    return false;
  }
  png_set_read_fn(d->png, d, png_read_bytes);
  // Width/height: our own pixel cap decides (after IHDR), so that a big image is kImageTooLarge, not a libpng
  // error; libpng's default 1,000,000 per side would also refuse legitimate panoramas.
  png_set_user_limits(d->png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
  png_set_chunk_cache_max(d->png, 128);               // ancillary chunks kept (default 1000)
  png_set_chunk_malloc_max(d->png, 8 * 1024 * 1024);  // bytes for one chunk, decompressed (zTXt/iCCP bombs)
  // Every variable-length chunk we never use is skipped unread (CRC still checked): text, ICC profile, suggested
  // palettes, calibration and scale. libpng allocates the length such a chunk declares before reading it (a
  // 300-byte file declaring a 1 GB eXIf made it reserve 1 GB per decode, found by fuzz_decode). The eXIf we do use
  // is found in the file's bytes instead (png_exif_chunk).
  static constexpr png_byte kSkipped[] = "eXIf\0iCCP\0iTXt\0pCAL\0sCAL\0sPLT\0tEXt\0zTXt";
  png_set_keep_unknown_chunks(d->png, PNG_HANDLE_CHUNK_NEVER, kSkipped, 8);
  png_read_info(d->png, d->info);
  png_get_IHDR(d->png, d->info, &d->width, &d->height, &d->bit_depth, &d->color_type, &d->interlace, nullptr, nullptr);
  return true;
}

// Guarded: transforms to RGB8 (or 16-bit grey), then all rows. `rows[y]` has room for width * 3 bytes.
bool png_read_pixels_guarded(PngDecoder* d, png_bytep* rows) {
  if (setjmp(d->jump) != 0) return false;
  png_structp png = d->png;
  // Pillow 9.4's PNG modes and convert("RGB"): palette -> its RGB entries (tRNS ignored); 1/2/4-bit grey scaled
  // to 0..255; grey -> R=G=B; alpha dropped, no compositing; 16-bit RGB(A) and grey+alpha -> high byte.
  // gAMA/sBIT/tRNS are not applied.
  if (d->color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);  // RGBA when tRNS: stripped below
  if (d->color_type == PNG_COLOR_TYPE_GRAY && d->bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (d->bit_depth == 16 && !d->grey16) png_set_strip_16(png);  // chop: the high byte
  png_set_strip_alpha(png);
  if (!d->grey16 && (d->color_type & PNG_COLOR_MASK_COLOR) == 0) png_set_gray_to_rgb(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, d->info);
  const int want_channels = d->grey16 ? 1 : 3, want_depth = d->grey16 ? 16 : 8;
  const std::size_t want_rowbytes = std::size_t{d->width} * (d->grey16 ? 2 : 3);
  if (png_get_channels(png, d->info) != want_channels || png_get_bit_depth(png, d->info) != want_depth ||
      png_get_rowbytes(png, d->info) != want_rowbytes) {
    std::snprintf(d->message, sizeof d->message, "unexpected libpng output layout (%d channels, %d bits)",
                  png_get_channels(png, d->info), png_get_bit_depth(png, d->info));
    return false;
  }
  png_read_image(png, rows);
  return true;
}

// 16-bit grey, as Pillow 9.4 does it: the PNG opens as mode "I" (values 0..65535) and convert("RGB") clips each
// value to 0..255, so anything above 255 turns white (not the high byte, unlike 16-bit RGB). Each row holds
// width big-endian 16-bit values at its start and is expanded in place to RGB8, from the right end so that no
// sample is overwritten before it is read (pixel x reads bytes 2x..2x+1 and writes 3x..3x+2).
void clip_grey16_rows(Image& image) {
  for (int y = 0; y < image.height; ++y) {
    std::uint8_t* row = image.row(y);
    for (int x = image.width - 1; x >= 0; --x) {
      const unsigned value = static_cast<unsigned>(row[2 * x]) << 8 | row[2 * x + 1];
      const auto clipped = static_cast<std::uint8_t>(value > 255 ? 255 : value);
      row[3 * x] = row[3 * x + 1] = row[3 * x + 2] = clipped;
    }
  }
}

std::uint32_t load_be32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
}

// The eXIf chunk libpng would keep, found in the file's bytes without copying: the first one, before or after the
// image data, that holds at least 2 bytes starting with a byte-order mark ("MM" or "II") and whose CRC is intact
// (libpng discards an ancillary chunk with a bad CRC, and keeps the first good eXIf). The walk stops at IEND or at
// a chunk that runs past the end of the data. Empty when there is none.
std::span<const std::uint8_t> png_exif_chunk(std::span<const std::uint8_t> bytes) {
  std::size_t pos = 8;  // after the signature
  while (bytes.size() - pos >= 12) {
    const std::uint32_t length = load_be32(bytes.data() + pos);
    if (length > bytes.size() - pos - 12) break;
    const std::uint8_t* type = bytes.data() + pos + 4;
    const std::uint8_t* data = type + 4;
    if (std::memcmp(type, "IEND", 4) == 0) break;
    if (std::memcmp(type, "eXIf", 4) == 0 && length >= 2 && data[0] == data[1] && (data[0] == 'M' || data[0] == 'I')) {
      const uLong crc = crc32(crc32(0L, Z_NULL, 0), type, static_cast<uInt>(length) + 4);
      if (crc == load_be32(data + length)) return {data, length};
    }
    pos += 12 + std::size_t{length};
  }
  return {};
}

[[noreturn]] void throw_png_error(const PngDecoder& d) {
  std::string detail = d.message[0] != '\0' ? d.message : "unknown libpng error";
  if (d.warning[0] != '\0') detail += std::string("; ") + d.warning;
  if (d.truncated) {
    throw Error(ErrorCode::kImageDecode, "PNG data is truncated (libpng: " + detail + "); " + kDamagedHint);
  }
  throw Error(ErrorCode::kImageDecode, "PNG decode failed (libpng: " + detail + "); " + kDamagedHint);
}

Image decode_png(std::span<const std::uint8_t> bytes, const DecodeOptions& options) {
  // IHDR must be the first chunk: its size is checked before libpng even starts, which also gives a clear message
  // for an empty image (libpng says only "Invalid IHDR data"). libpng validates the rest of IHDR.
  if (bytes.size() >= 24 && std::memcmp(bytes.data() + 12, "IHDR", 4) == 0) {
    check_declared_size(load_be32(bytes.data() + 16), load_be32(bytes.data() + 20), options, "PNG");
  }
  PngDecoder d(bytes.data(), bytes.size());
  if (!png_read_header_guarded(&d)) throw_png_error(d);
  check_declared_size(d.width, d.height, options, "PNG");
  d.grey16 = d.color_type == PNG_COLOR_TYPE_GRAY && d.bit_depth == 16;

  Image image = allocate_image(d.width, d.height);
  std::vector<png_bytep> rows(d.height);
  for (int y = 0; y < image.height; ++y) rows[static_cast<std::size_t>(y)] = image.row(y);
  if (!png_read_pixels_guarded(&d, rows.data())) throw_png_error(d);
  if (d.grey16) clip_grey16_rows(image);

  if (options.apply_exif_orientation) {
    image_detail::apply_exif_orientation(image, image_detail::exif_orientation(png_exif_chunk(bytes)));
  }
  return image;
}

// ----------------------------------------------------------------------------------------------------------------

// What an unsupported input looks like, for the error message.
std::string describe_unknown(std::span<const std::uint8_t> bytes) {
  auto starts_with = [&](std::string_view magic, std::size_t at = 0) {
    return bytes.size() >= at + magic.size() && std::memcmp(bytes.data() + at, magic.data(), magic.size()) == 0;
  };
  const char* kind = nullptr;
  if (starts_with("GIF87a") || starts_with("GIF89a"))
    kind = "a GIF image";
  else if (starts_with("RIFF") && starts_with("WEBP", 8))
    kind = "a WebP image";
  else if (starts_with("BM"))
    kind = "a BMP image";
  else if (starts_with(std::string_view("II*\0", 4)) || starts_with(std::string_view("MM\0*", 4)))
    kind = "a TIFF image";
  else if (starts_with("ftyp", 4))
    kind = "a HEIF/AVIF image";
  if (kind != nullptr) return std::string("looks like ") + kind + "; convert it to JPEG or PNG first";

  const std::size_t n = bytes.size() < 16 ? bytes.size() : 16;
  bool text = true;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t c = bytes[i];
    text = text && ((c >= 0x20 && c < 0x7F) || c == '\n' || c == '\r' || c == '\t');
  }
  if (text) return "looks like text, " + std::to_string(bytes.size()) + " bytes";
  std::string hex = "starts with";
  char buf[4];
  for (std::size_t i = 0; i < n && i < 8; ++i) {
    std::snprintf(buf, sizeof buf, " %02x", bytes[i]);
    hex += buf;
  }
  return hex;
}

}  // namespace

Image decode_image(std::span<const std::uint8_t> bytes, const DecodeOptions& options) {
  if (options.max_jpeg_scans < 1) {
    throw Error(ErrorCode::kInvalidArgument,
                "DecodeOptions::max_jpeg_scans is " + std::to_string(options.max_jpeg_scans) + "; it must be >= 1");
  }
  if (bytes.empty()) throw Error(ErrorCode::kImageDecode, "empty input (0 bytes): expected a JPEG or PNG image");
  switch (sniff_format(bytes)) {
    case ImageFormat::kJpeg: return decode_jpeg(bytes, options);
    case ImageFormat::kPng: return decode_png(bytes, options);
    case ImageFormat::kUnknown: break;
  }
  throw Error(ErrorCode::kImageDecode, "not a JPEG or PNG image (" + describe_unknown(bytes) + ")");
}

ReducedImage decode_image_reduced(std::span<const std::uint8_t> bytes, int min_shorter_side,
                                  const DecodeOptions& options) {
  if (min_shorter_side < 1) {
    throw Error(ErrorCode::kInvalidArgument,
                "decode_image_reduced: min_shorter_side must be >= 1, got " + std::to_string(min_shorter_side));
  }
  ReducedImage out;
  if (!bytes.empty() && sniff_format(bytes) == ImageFormat::kJpeg && options.max_jpeg_scans >= 1) {
    out.image = decode_jpeg(bytes, options, min_shorter_side, &out.source_width, &out.source_height);
  } else {
    out.image = decode_image(bytes, options);
    out.source_width = out.image.width;
    out.source_height = out.image.height;
  }
  return out;
}

Image read_image(const std::filesystem::path& path, const DecodeOptions& options) {
  const std::vector<std::uint8_t> bytes = read_file(path);
  try {
    return decode_image(bytes, options);
  } catch (const Error& e) {
    throw Error(e.code(), "'" + path.string() + "': " + e.what());
  }
}

}  // namespace kprcnn

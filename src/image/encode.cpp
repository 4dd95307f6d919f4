// image/encode.cpp — RGB8 to PNG (libpng) and JPEG (libjpeg-turbo), in memory.
//
// Same error discipline as decode.cpp: library errors longjmp to a setjmp in a guarded function holding only plain
// data; the output vector and the row pointers live in the caller. Our write callbacks never let a C++ exception
// cross the C library: a failed append becomes a library error.

// png.h first: it includes <setjmp.h> itself.
#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <jpeglib.h>  // after <cstdio>

#include "kprcnn/error.h"
#include "kprcnn/image.h"

namespace kprcnn {
namespace {

// zlib level for PNG output, with libpng's default adaptive row filters. Measured on a 1920x1272 photo with drawn
// overlays: level 2 takes about as long as level 1 and writes 2.5% less; level 3 costs ~1.7x the time for another
// 2.5%, level 6 (zlib's and Pillow's default) ~5x the time for 10% less than level 2. Annotated outputs are written
// per request, so speed wins; photos barely compress losslessly anyway.
constexpr int kPngCompressionLevel = 2;

void check_encodable(const Image& image, const char* format) {
  if (image.empty()) {
    throw Error(ErrorCode::kInvalidArgument, std::string("cannot encode an empty image (") +
                                                 std::to_string(image.width) + "x" + std::to_string(image.height) +
                                                 ") as " + format);
  }
  const std::size_t expected = static_cast<std::size_t>(image.width) * static_cast<std::size_t>(image.height) * 3;
  if (image.pixels.size() != expected) {
    throw Error(ErrorCode::kInvalidArgument, "image holds " + std::to_string(image.pixels.size()) +
                                                 " bytes of pixels, a " + std::to_string(image.width) + "x" +
                                                 std::to_string(image.height) + " RGB8 image needs " +
                                                 std::to_string(expected));
  }
}

bool append_bytes(std::vector<std::uint8_t>& out, const std::uint8_t* data, std::size_t count) noexcept {
  try {
    out.insert(out.end(), data, data + count);
    return true;
  } catch (...) {
    return false;
  }
}

// ----------------------------------------------------------------------------------------------------------------
// PNG

struct PngEncoder {
  png_structp png = nullptr;
  png_infop info = nullptr;
  std::jmp_buf jump;
  std::vector<std::uint8_t>* out = nullptr;
  char message[256] = {};

  explicit PngEncoder(std::vector<std::uint8_t>* sink) : out(sink) {}
  ~PngEncoder() {
    if (png != nullptr) png_destroy_write_struct(&png, info != nullptr ? &info : nullptr);
  }
  PngEncoder(const PngEncoder&) = delete;
  PngEncoder& operator=(const PngEncoder&) = delete;
};

[[noreturn]] void png_on_error(png_structp png, png_const_charp message) {
  auto* e = static_cast<PngEncoder*>(png_get_error_ptr(png));
  if (e->message[0] == '\0') std::snprintf(e->message, sizeof e->message, "%s", message ? message : "error");
  std::longjmp(e->jump, 1);
}

void png_on_warning(png_structp, png_const_charp) {}

void png_write_bytes(png_structp png, png_bytep data, std::size_t count) {
  auto* e = static_cast<PngEncoder*>(png_get_io_ptr(png));
  if (!append_bytes(*e->out, data, count)) png_error(png, "out of memory");
}

void png_flush(png_structp) {}

bool png_encode_guarded(PngEncoder* e, png_uint_32 width, png_uint_32 height, png_bytepp rows) {
  if (setjmp(e->jump) != 0) return false;
  e->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, e, png_on_error, png_on_warning);
  if (e->png == nullptr) {
    std::snprintf(e->message, sizeof e->message, "libpng could not be initialised");
    return false;
  }
  e->info = png_create_info_struct(e->png);
  if (e->info == nullptr) {
    std::snprintf(e->message, sizeof e->message, "libpng could not be initialised");
    return false;
  }
  png_set_write_fn(e->png, e, png_write_bytes, png_flush);
  png_set_compression_level(e->png, kPngCompressionLevel);
  png_set_IHDR(e->png, e->info, width, height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(e->png, e->info);
  png_write_image(e->png, rows);
  png_write_end(e->png, nullptr);
  return true;
}

// ----------------------------------------------------------------------------------------------------------------
// JPEG

struct JpegEncoder {
  jpeg_compress_struct cinfo{};
  jpeg_error_mgr err{};  // the callbacks reach this struct through cinfo.client_data
  jpeg_destination_mgr dest{};
  std::jmp_buf jump;
  std::vector<std::uint8_t>* out = nullptr;
  std::uint8_t* chunk = nullptr;  // staging buffer, kChunkSize bytes
  char message[JMSG_LENGTH_MAX] = {};

  static constexpr std::size_t kChunkSize = 64 * 1024;

  JpegEncoder(std::vector<std::uint8_t>* sink, std::uint8_t* staging);
  ~JpegEncoder() { jpeg_destroy_compress(&cinfo); }  // no-op if never created
  JpegEncoder(const JpegEncoder&) = delete;
  JpegEncoder& operator=(const JpegEncoder&) = delete;
};

JpegEncoder* encoder_of(j_compress_ptr cinfo) {
  return static_cast<JpegEncoder*>(cinfo->client_data);
}

[[noreturn]] void jpeg_on_error(j_common_ptr cinfo) {
  auto* e = static_cast<JpegEncoder*>(cinfo->client_data);
  if (e->message[0] == '\0') (*cinfo->err->format_message)(cinfo, e->message);
  std::longjmp(e->jump, 1);
}

void jpeg_on_message(j_common_ptr, int) {}

void jpeg_init_destination(j_compress_ptr cinfo) {
  cinfo->dest->next_output_byte = encoder_of(cinfo)->chunk;
  cinfo->dest->free_in_buffer = JpegEncoder::kChunkSize;
}

boolean jpeg_empty_output_buffer(j_compress_ptr cinfo) {
  JpegEncoder* e = encoder_of(cinfo);
  if (!append_bytes(*e->out, e->chunk, JpegEncoder::kChunkSize)) {
    std::snprintf(e->message, sizeof e->message, "out of memory");
    std::longjmp(e->jump, 1);
  }
  jpeg_init_destination(cinfo);
  return TRUE;
}

void jpeg_term_destination(j_compress_ptr cinfo) {
  JpegEncoder* e = encoder_of(cinfo);
  if (!append_bytes(*e->out, e->chunk, JpegEncoder::kChunkSize - cinfo->dest->free_in_buffer)) {
    std::snprintf(e->message, sizeof e->message, "out of memory");
    std::longjmp(e->jump, 1);
  }
}

JpegEncoder::JpegEncoder(std::vector<std::uint8_t>* sink, std::uint8_t* staging) : out(sink), chunk(staging) {
  cinfo.err = jpeg_std_error(&err);
  cinfo.client_data = this;  // kept by jpeg_create_compress
  err.error_exit = jpeg_on_error;
  err.emit_message = jpeg_on_message;
  dest.init_destination = jpeg_init_destination;
  dest.empty_output_buffer = jpeg_empty_output_buffer;
  dest.term_destination = jpeg_term_destination;
}

bool jpeg_encode_guarded(JpegEncoder* e, const Image* image, int quality) {
  if (setjmp(e->jump) != 0) return false;
  jpeg_create_compress(&e->cinfo);
  e->cinfo.dest = &e->dest;
  e->cinfo.image_width = static_cast<JDIMENSION>(image->width);
  e->cinfo.image_height = static_cast<JDIMENSION>(image->height);
  e->cinfo.input_components = 3;
  e->cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&e->cinfo);
  jpeg_set_quality(&e->cinfo, quality, TRUE);
  // 4:2:0 chroma subsampling (the libjpeg default, spelt out).
  e->cinfo.comp_info[0].h_samp_factor = 2;
  e->cinfo.comp_info[0].v_samp_factor = 2;
  e->cinfo.dct_method = JDCT_ISLOW;
  jpeg_start_compress(&e->cinfo, TRUE);
  while (e->cinfo.next_scanline < e->cinfo.image_height) {
    // libjpeg does not write through the row pointer; its API just is not const-correct.
    JSAMPROW row = const_cast<std::uint8_t*>(image->row(static_cast<int>(e->cinfo.next_scanline)));
    jpeg_write_scanlines(&e->cinfo, &row, 1);
  }
  jpeg_finish_compress(&e->cinfo);
  return true;
}

}  // namespace

std::vector<std::uint8_t> encode_png(const Image& image) {
  check_encodable(image, "PNG");
  std::vector<std::uint8_t> out;
  out.reserve(image.pixels.size() / 4 + 1024);
  std::vector<png_bytep> rows(static_cast<std::size_t>(image.height));
  for (int y = 0; y < image.height; ++y) {
    rows[static_cast<std::size_t>(y)] = const_cast<png_bytep>(image.row(y));  // libpng only reads them
  }
  PngEncoder e(&out);
  if (!png_encode_guarded(&e, static_cast<png_uint_32>(image.width), static_cast<png_uint_32>(image.height),
                          rows.data())) {
    throw Error(ErrorCode::kInternal, std::string("PNG encoding failed (libpng: ") + e.message + ")");
  }
  return out;
}

std::vector<std::uint8_t> encode_jpeg(const Image& image, int quality) {
  if (quality < 1 || quality > 100) {
    throw Error(ErrorCode::kInvalidArgument,
                "JPEG quality is " + std::to_string(quality) + "; it must be between 1 and 100");
  }
  check_encodable(image, "JPEG");
  if (image.width > JPEG_MAX_DIMENSION || image.height > JPEG_MAX_DIMENSION) {
    throw Error(ErrorCode::kInvalidArgument,
                "a JPEG cannot be wider or taller than " + std::to_string(JPEG_MAX_DIMENSION) + " pixels (image is " +
                    std::to_string(image.width) + "x" + std::to_string(image.height) + "): write a .png instead");
  }
  std::vector<std::uint8_t> out;
  out.reserve(image.pixels.size() / 8 + 1024);
  std::vector<std::uint8_t> staging(JpegEncoder::kChunkSize);
  JpegEncoder e(&out, staging.data());
  if (!jpeg_encode_guarded(&e, &image, quality)) {
    throw Error(ErrorCode::kInternal, std::string("JPEG encoding failed (libjpeg: ") + e.message + ")");
  }
  return out;
}

}  // namespace kprcnn

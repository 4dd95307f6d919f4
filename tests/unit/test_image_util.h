// test_image_util.h — helpers for the Image* unit tests: synthetic pictures, a raw PNG writer (no compression
// library: stored deflate blocks) for crafting any colour type or a broken file, a libjpeg writer for grey, CMYK,
// YCCK and progressive JPEGs, and EXIF/APP1 builders.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <jpeglib.h>  // after <cstdio>; linked through kprcnn's own libjpeg dependency

#include "kprcnn/error.h"
#include "kprcnn/image.h"

namespace kprcnn::image_test {

using Bytes = std::vector<std::uint8_t>;

// The code of the kprcnn::Error that f throws; nullopt if it returns or throws something else.
inline std::optional<ErrorCode> code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  } catch (...) {
  }
  return std::nullopt;
}

// The message of the kprcnn::Error that f throws ("" if none).
inline std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  } catch (...) {
  }
  return "";
}

// Deterministic RGB8 picture with gradients and a few hard edges.
inline Image pattern_image(int width, int height, unsigned seed = 1) {
  Image image(width, height);
  std::uint32_t state = seed * 2654435761u + 12345u;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      state = state * 1664525u + 1013904223u;
      std::uint8_t* p = image.row(y) + static_cast<std::size_t>(x) * 3;
      p[0] = static_cast<std::uint8_t>(x * 255 / (width > 1 ? width - 1 : 1));
      p[1] = static_cast<std::uint8_t>(y * 255 / (height > 1 ? height - 1 : 1));
      p[2] = static_cast<std::uint8_t>(((x / 4 + y / 4) % 2) * 200 + (state >> 28));
    }
  }
  return image;
}

// An image where every pixel is distinct and encodes its coordinates: (x, y, x ^ y) modulo 256.
inline Image coordinate_image(int width, int height) {
  Image image(width, height);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      std::uint8_t* p = image.row(y) + static_cast<std::size_t>(x) * 3;
      p[0] = static_cast<std::uint8_t>(x);
      p[1] = static_cast<std::uint8_t>(y);
      p[2] = static_cast<std::uint8_t>(x ^ y);
    }
  }
  return image;
}

inline int max_abs_diff(const Image& a, const Image& b) {
  if (a.width != b.width || a.height != b.height) return 256;
  int worst = 0;
  for (std::size_t i = 0; i < a.pixels.size(); ++i) {
    const int d = std::abs(int{a.pixels[i]} - int{b.pixels[i]});
    worst = d > worst ? d : worst;
  }
  return worst;
}

inline std::array<std::uint8_t, 3> pixel(const Image& image, int x, int y) {
  const std::uint8_t* p = image.row(y) + static_cast<std::size_t>(x) * 3;
  return {p[0], p[1], p[2]};
}

// ---------------------------------------------------------------------------------------------------------------
// PNG, by hand

inline std::uint32_t crc32(std::span<const std::uint8_t> data, std::uint32_t crc = 0) {
  crc = ~crc;
  for (std::uint8_t byte : data) {
    crc ^= byte;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

inline void put_be32(Bytes& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}

inline void append_png_chunk(Bytes& out, std::string_view type, std::span<const std::uint8_t> data) {
  put_be32(out, static_cast<std::uint32_t>(data.size()));
  Bytes body(type.begin(), type.end());
  body.insert(body.end(), data.begin(), data.end());
  out.insert(out.end(), body.begin(), body.end());
  put_be32(out, crc32(body));
}

// zlib stream of stored (uncompressed) deflate blocks.
inline Bytes zlib_stored(std::span<const std::uint8_t> data) {
  Bytes out = {0x78, 0x01};
  std::size_t pos = 0;
  do {
    const std::size_t n = std::min<std::size_t>(65535, data.size() - pos);
    const bool last = pos + n == data.size();
    out.push_back(last ? 1 : 0);
    out.push_back(static_cast<std::uint8_t>(n));
    out.push_back(static_cast<std::uint8_t>(n >> 8));
    out.push_back(static_cast<std::uint8_t>(~n));
    out.push_back(static_cast<std::uint8_t>(~n >> 8));
    out.insert(out.end(), data.begin() + static_cast<std::ptrdiff_t>(pos),
               data.begin() + static_cast<std::ptrdiff_t>(pos + n));
    pos += n;
  } while (pos < data.size());
  std::uint32_t a = 1, b = 0;
  for (std::uint8_t byte : data) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  put_be32(out, b << 16 | a);
  return out;
}

struct PngChunk {
  std::string type;
  Bytes data;
};

// Non-interlaced PNG from packed rows (each without its filter byte; filter 0 is added).
inline Bytes raw_png(std::uint32_t width, std::uint32_t height, int bit_depth, int color_type,
                     const std::vector<Bytes>& rows, const std::vector<PngChunk>& before_idat = {},
                     const std::vector<PngChunk>& after_idat = {}) {
  Bytes out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  Bytes ihdr;
  put_be32(ihdr, width);
  put_be32(ihdr, height);
  ihdr.insert(ihdr.end(), {static_cast<std::uint8_t>(bit_depth), static_cast<std::uint8_t>(color_type), 0, 0, 0});
  append_png_chunk(out, "IHDR", ihdr);
  for (const auto& c : before_idat) append_png_chunk(out, c.type, c.data);
  Bytes raw;
  for (const Bytes& row : rows) {
    raw.push_back(0);
    raw.insert(raw.end(), row.begin(), row.end());
  }
  append_png_chunk(out, "IDAT", zlib_stored(raw));
  for (const auto& c : after_idat) append_png_chunk(out, c.type, c.data);
  append_png_chunk(out, "IEND", {});
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// JPEG with libjpeg directly (colour spaces and scan scripts our encoder does not offer)

struct TestJpegOptions {
  J_COLOR_SPACE in_space = JCS_RGB;      // layout of `pixels`
  J_COLOR_SPACE jpeg_space = JCS_YCbCr;  // colour space stored in the file
  int quality = 90;
  bool progressive = false;
  bool full_chroma = false;  // 4:4:4 instead of 4:2:0
};

inline Bytes libjpeg_encode(const std::uint8_t* pixels, int width, int height, int components,
                            const TestJpegOptions& o = {}) {
  jpeg_compress_struct cinfo{};
  jpeg_error_mgr err{};
  cinfo.err = jpeg_std_error(&err);
  err.error_exit = [](j_common_ptr c) {
    char message[JMSG_LENGTH_MAX];
    (*c->err->format_message)(c, message);
    std::fprintf(stderr, "test libjpeg_encode: %s\n", message);
    std::abort();  // a bug in the test itself
  };
  jpeg_create_compress(&cinfo);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &buffer, &size);
  cinfo.image_width = static_cast<JDIMENSION>(width);
  cinfo.image_height = static_cast<JDIMENSION>(height);
  cinfo.input_components = components;
  cinfo.in_color_space = o.in_space;
  jpeg_set_defaults(&cinfo);
  jpeg_set_colorspace(&cinfo, o.jpeg_space);
  jpeg_set_quality(&cinfo, o.quality, TRUE);
  if (o.full_chroma) {
    for (int c = 0; c < cinfo.num_components; ++c)
      cinfo.comp_info[c].h_samp_factor = cinfo.comp_info[c].v_samp_factor = 1;
  }
  if (o.progressive) jpeg_simple_progression(&cinfo);
  jpeg_start_compress(&cinfo, TRUE);
  const std::size_t stride = static_cast<std::size_t>(width) * static_cast<std::size_t>(components);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<std::uint8_t*>(pixels + cinfo.next_scanline * stride);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  Bytes out(buffer, buffer + size);
  jpeg_destroy_compress(&cinfo);
  std::free(buffer);
  return out;
}

// Inserts an APPn segment right after SOI.
inline Bytes with_app_segment(const Bytes& jpeg, int marker, std::span<const std::uint8_t> payload) {
  Bytes out(jpeg.begin(), jpeg.begin() + 2);
  out.push_back(0xFF);
  out.push_back(static_cast<std::uint8_t>(marker));
  const std::size_t length = payload.size() + 2;
  out.push_back(static_cast<std::uint8_t>(length >> 8));
  out.push_back(static_cast<std::uint8_t>(length));
  out.insert(out.end(), payload.begin(), payload.end());
  out.insert(out.end(), jpeg.begin() + 2, jpeg.end());
  return out;
}

// Offset of the first occurrence of `needle` in `hay` at or after `from`, or npos.
inline std::size_t find_bytes(const Bytes& hay, std::initializer_list<std::uint8_t> needle, std::size_t from = 0) {
  for (std::size_t i = from; i + needle.size() <= hay.size(); ++i) {
    if (std::equal(needle.begin(), needle.end(), hay.begin() + static_cast<std::ptrdiff_t>(i))) return i;
  }
  return std::string::npos;
}

// ---------------------------------------------------------------------------------------------------------------
// EXIF

// A TIFF block (no "Exif\0\0" prefix): IFD0 = Make (ASCII, inline) then Orientation (SHORT).
inline Bytes tiff_with_orientation(int orientation, bool big_endian) {
  Bytes out;
  auto u16 = [&](unsigned v) {
    if (big_endian)
      out.insert(out.end(), {static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)});
    else
      out.insert(out.end(), {static_cast<std::uint8_t>(v), static_cast<std::uint8_t>(v >> 8)});
  };
  auto u32 = [&](std::uint32_t v) {
    if (big_endian) {
      u16(v >> 16);
      u16(v & 0xFFFF);
    } else {
      u16(v & 0xFFFF);
      u16(v >> 16);
    }
  };
  out.insert(out.end(), big_endian ? std::initializer_list<std::uint8_t>{'M', 'M'}
                                   : std::initializer_list<std::uint8_t>{'I', 'I'});
  u16(42);
  u32(8);
  u16(2);
  u16(0x010F), u16(2), u32(4), out.insert(out.end(), {'A', 'C', 'M', 'E'});
  u16(0x0112), u16(3), u32(1), u16(static_cast<unsigned>(orientation)), u16(0);
  u32(0);
  return out;
}

inline Bytes exif_app1_payload(int orientation, bool big_endian) {
  Bytes out = {'E', 'x', 'i', 'f', 0, 0};
  const Bytes tiff = tiff_with_orientation(orientation, big_endian);
  out.insert(out.end(), tiff.begin(), tiff.end());
  return out;
}

}  // namespace kprcnn::image_test

// kprcnn_resize — test tool driving the preprocessing from Python (tests/python/test_resize_vs_pillow.py).
//
//   kprcnn_resize IN.ppm OUT.ppm W H [--chw OUT.f32] [--plain]
//       resize a binary PPM (P6, maxval 255) with resize_bicubic; --chw also writes to_chw_float of the result as
//       raw little-endian float32 (3 * H * W values); --plain uses the non-SIMD kernels.
//   kprcnn_resize --plan W H TARGET DIVISOR
//       print plan_resize's "W H", or the error message on stderr (exit 2).
//   kprcnn_resize --bench SRC_W SRC_H W H [REPS]
//       time the resize of a pseudo-random SRC_W x SRC_H image (median and best of REPS runs, milliseconds).
// Exit codes: 0 success, 1 usage, 2 kprcnn error, 3 I/O or format error.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "kprcnn/error.h"
#include "kprcnn/image.h"
#include "preprocess.h"

namespace {

kprcnn::Image blank_image(int width, int height) {
  kprcnn::Image image;
  image.width = width;
  image.height = height;
  image.pixels.resize(static_cast<std::size_t>(width) * height * 3);
  return image;
}

// Binary PPM (P6) with maxval 255; comments allowed in the header.
kprcnn::Image read_ppm(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  const std::vector<char> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::size_t pos = 0;
  auto skip_space = [&] {
    while (pos < data.size()) {
      if (data[pos] == '#') {
        while (pos < data.size() && data[pos] != '\n') ++pos;
      } else if (std::isspace(static_cast<unsigned char>(data[pos]))) {
        ++pos;
      } else {
        break;
      }
    }
  };
  auto number = [&] {
    skip_space();
    long value = 0;
    const std::size_t start = pos;
    while (pos < data.size() && data[pos] >= '0' && data[pos] <= '9' && value < 1'000'000'000) {
      value = value * 10 + (data[pos++] - '0');
    }
    if (pos == start) throw std::runtime_error(path + ": malformed PPM header");
    return value;
  };
  if (data.size() < 2 || data[0] != 'P' || data[1] != '6') throw std::runtime_error(path + ": not a binary PPM (P6)");
  pos = 2;
  const long width = number(), height = number(), maxval = number();
  if (maxval != 255) throw std::runtime_error(path + ": only maxval 255 is supported");
  if (width < 1 || height < 1 || width > 100000 || height > 100000) throw std::runtime_error(path + ": bad size");
  ++pos;  // the single whitespace byte after maxval
  const std::size_t bytes = static_cast<std::size_t>(width) * height * 3;
  if (data.size() < pos + bytes) throw std::runtime_error(path + ": truncated pixel data");
  kprcnn::Image image = blank_image(static_cast<int>(width), static_cast<int>(height));
  std::memcpy(image.pixels.data(), data.data() + pos, bytes);
  return image;
}

void write_bytes(const std::string& path, const std::string& header, const void* data, std::size_t size) {
  std::ofstream out(path, std::ios::binary);
  out << header;
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out) throw std::runtime_error("cannot write " + path);
}

int to_int(const char* text) {
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || v < -1'000'000'000 || v > 1'000'000'000) {
    throw std::invalid_argument(std::string("not an integer: ") + text);
  }
  return static_cast<int>(v);
}

int run_plan(char** argv) {
  const kprcnn::Size s = kprcnn::plan_resize(to_int(argv[0]), to_int(argv[1]), to_int(argv[2]), to_int(argv[3]));
  std::printf("%d %d\n", s.width, s.height);
  return 0;
}

int run_bench(int argc, char** argv) {
  const int src_w = to_int(argv[0]), src_h = to_int(argv[1]), w = to_int(argv[2]), h = to_int(argv[3]);
  const int reps = argc > 4 ? std::max(1, to_int(argv[4])) : 20;
  kprcnn::Image src = blank_image(src_w, src_h);
  std::uint32_t state = 12345;
  for (auto& v : src.pixels) {
    state = state * 1664525u + 1013904223u;
    v = static_cast<std::uint8_t>(state >> 24);
  }
  for (const bool plain : {false, true}) {
    std::vector<double> ms;
    for (int i = 0; i < reps; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      const kprcnn::Image out =
          plain ? kprcnn::detail::resize_bicubic_plain(src, w, h) : kprcnn::resize_bicubic(src, w, h);
      const auto t1 = std::chrono::steady_clock::now();
      if (out.width != w) return 2;
      ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    std::printf("%dx%d -> %dx%d %s: median %.2f ms, best %.2f ms (%d runs)\n", src_w, src_h, w, h,
                plain ? "plain" : (kprcnn::detail::resize_uses_simd() ? "avx2" : "plain (no avx2)"), ms[ms.size() / 2],
                ms.front(), reps);
  }
  return 0;
}

int run_resize(int argc, char** argv) {
  const std::string in = argv[0], out = argv[1];
  const int w = to_int(argv[2]), h = to_int(argv[3]);
  std::string chw;
  bool plain = false;
  for (int i = 4; i < argc; ++i) {
    if (std::strcmp(argv[i], "--chw") == 0 && i + 1 < argc) {
      chw = argv[++i];
    } else if (std::strcmp(argv[i], "--plain") == 0) {
      plain = true;
    } else {
      throw std::invalid_argument(std::string("unknown option ") + argv[i]);
    }
  }
  const kprcnn::Image src = read_ppm(in);
  const kprcnn::Image dst = plain ? kprcnn::detail::resize_bicubic_plain(src, w, h) : kprcnn::resize_bicubic(src, w, h);
  write_bytes(out, "P6\n" + std::to_string(dst.width) + " " + std::to_string(dst.height) + "\n255\n", dst.pixels.data(),
              dst.pixels.size());
  if (!chw.empty()) {
    const std::vector<float> tensor = kprcnn::to_chw_float(dst);
    write_bytes(chw, "", tensor.data(), tensor.size() * sizeof(float));
  }
  return 0;
}

int usage() {
  std::fprintf(stderr,
               "usage: kprcnn_resize IN.ppm OUT.ppm W H [--chw OUT.f32] [--plain]\n"
               "       kprcnn_resize --plan W H TARGET DIVISOR\n"
               "       kprcnn_resize --bench SRC_W SRC_H W H [REPS]\n");
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc == 6 && std::strcmp(argv[1], "--plan") == 0) return run_plan(argv + 2);
    if ((argc == 6 || argc == 7) && std::strcmp(argv[1], "--bench") == 0) return run_bench(argc - 2, argv + 2);
    if (argc >= 5 && argv[1][0] != '-') return run_resize(argc - 1, argv + 1);
    return usage();
  } catch (const kprcnn::Error& e) {
    std::fprintf(stderr, "error (%s): %s\n", kprcnn::to_string(e.code()), e.what());
    return 2;
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return usage();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 3;
  }
}

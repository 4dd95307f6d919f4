// kprcnn_decode IN OUT.ppm [--max-pixels N] — decodes IN with kprcnn::read_image and writes the RGB8 result as a
// binary PPM (P6), for tests/python/test_decode_vs_pillow.py. Exit 0 on success; on a kprcnn::Error prints
// "error: <code>: <message>" to stderr and exits 1; usage errors exit 2.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include "kprcnn/error.h"
#include "kprcnn/image.h"

int main(int argc, char** argv) {
  kprcnn::DecodeOptions options;
  const char* in = nullptr;
  const char* out = nullptr;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--max-pixels" && i + 1 < argc) {
      options.max_pixels = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--no-exif") {
      options.apply_exif_orientation = false;
    } else if (in == nullptr) {
      in = argv[i];
    } else if (out == nullptr) {
      out = argv[i];
    } else {
      in = nullptr;
      break;
    }
  }
  if (in == nullptr || out == nullptr) {
    std::fprintf(stderr, "usage: kprcnn_decode IN OUT.ppm [--max-pixels N] [--no-exif]\n");
    return 2;
  }
  try {
    const kprcnn::Image image = kprcnn::read_image(in, options);
    std::string ppm = "P6\n" + std::to_string(image.width) + " " + std::to_string(image.height) + "\n255\n";
    ppm.append(reinterpret_cast<const char*>(image.pixels.data()), image.pixels.size());
    kprcnn::write_file_atomic(out, ppm);
  } catch (const kprcnn::Error& e) {
    std::fprintf(stderr, "error: %s: %s\n", kprcnn::to_string(e.code()), e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: internal: %s\n", e.what());
    return 3;
  }
  return 0;
}

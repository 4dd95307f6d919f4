// Preprocessing: pure functions, no I/O. Internal to the library (tests include it directly).
#pragma once

#include <vector>

#include "kprcnn/image.h"

namespace kprcnn {

struct Size {
  int width = 0, height = 0;
  friend bool operator==(const Size&, const Size&) = default;
};

// The recipe's resize_img(img, target_sz, divisor): the shorter side becomes `target`, the longer side
// int(longer / (shorter / target)), then each side is rounded down to a multiple of `divisor` (divisor <= 1: no
// rounding). Square images: both sides `target`. Throws kInvalidArgument for empty images, target < 1, or a result
// with a zero side (e.g. 1x10000 at target 512 → 512x5120000 is fine, but a 10000x1 image at divisor 32 would
// round a side to 0).
Size plan_resize(int width, int height, int target, int divisor = 1);

// Pillow-compatible resize: the same result as PIL.Image.resize((w, h)) with its default filter for RGB images
// (BICUBIC, a = -0.5, antialiased support when downscaling, 8-bit fixed-point, horizontal pass then vertical).
// Matches Pillow 9.x/10.x bit-exactly on the cases tested (tests/unit/test_resize.cpp); stated tolerance ≤ 1 level.
Image resize_bicubic(const Image& src, int width, int height);

// CHW float32 with values pixel / 255 (the recipe's ToTensor), size 3 * h * w.
std::vector<float> to_chw_float(const Image& image);
void to_chw_float(const Image& image, float* out);  // out must hold 3 * w * h floats

}  // namespace kprcnn

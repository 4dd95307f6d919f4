// Preprocessing: pure functions, no I/O. Internal to the library (tests include it directly).
#pragma once

#include <vector>

#include "kprcnn/image.h"

namespace kprcnn {

struct Size {
  int width = 0, height = 0;
  friend bool operator==(const Size&, const Size&) = default;
};

// The recipe's resize_img(img, target_sz, divisor), computed in doubles exactly as its Python does:
//   ratio = min(w, h) / target; longer side = int(max(w, h) / ratio); shorter side = target;
//   divisor > 0: each side rounded down to a multiple of it (divisor 1 or <= 0: no rounding).
// numpy's argmin/argmax both pick the first index on a tie, so a square image gives
// (width, height) = (int(w / (w / target)), target): usually target x target, but floating rounding can make the
// width target - 1 (e.g. 7x7 at target 800 gives 799x800; never at power-of-two targets) - kept, as the recipe.
// Throws kInvalidArgument for an empty image, target < 1, a side rounded to 0 by the divisor (target < divisor),
// or a plan over 64 Mpx (e.g. 1x10000 at 512 would be 512x5120000): such an input cannot be fed to the model.
Size plan_resize(int width, int height, int target, int divisor = 1);

// Pillow-compatible resize: the same result as PIL.Image.resize((w, h)) with its default filter for RGB images
// (BICUBIC, a = -0.5, antialiased support when downscaling, 8-bit fixed-point, horizontal pass then vertical).
// Bit-exact with Pillow 9.4 on every case tested (tests/unit/test_preprocess.cpp holds Pillow reference values;
// tests/python/test_resize_vs_pillow.py compares many sizes with Pillow itself). Same size: returns a copy.
// Uses AVX2 when the CPU has it (same bytes as the plain code). Throws kInvalidArgument for an empty or malformed
// source, a target side < 1 or a target over 256 Mpx.
Image resize_bicubic(const Image& src, int width, int height);

// CHW float32 with values pixel / 255 (the recipe's ToTensor), size 3 * h * w. Float32 division, as torch's
// tensor.float().div(255) on CPU, so the values are bit-identical to torchvision's to_tensor.
std::vector<float> to_chw_float(const Image& image);
void to_chw_float(const Image& image, float* out);  // out must hold 3 * w * h floats

namespace detail {
// The same resize without SIMD kernels: the reference the AVX2 path is tested against.
Image resize_bicubic_plain(const Image& src, int width, int height);
bool resize_uses_simd();  // whether resize_bicubic runs the AVX2 kernels on this CPU
}  // namespace detail

}  // namespace kprcnn

// Preprocessing: the recipe's resize plan, a Pillow-exact bicubic resize and the ToTensor conversion.
//
// The resize reproduces Pillow's separable convolution resampler (libImaging/Resample.c; verified on Pillow 9.4) for
// 8-bit RGB with the bicubic filter: coefficients are computed in double precision exactly as Pillow computes them,
// converted to 22-bit fixed point, and applied with 32-bit integer arithmetic, horizontal pass first (rounded to
// 8 bits), then vertical. Integer sums do not depend on the order of their terms, so any evaluation order that
// keeps the same terms gives the same bytes: the AVX2 kernels below are checked against the plain ones by the unit
// tests, and both against Pillow by tests/python/test_resize_vs_pillow.py.
#include "preprocess.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "kprcnn/error.h"

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define KPRCNN_RESIZE_AVX2 1
#include <immintrin.h>
#endif

namespace kprcnn {
namespace {

// ---------------------------------------------------------------------------------------------------------------
// Resize plan

// Largest model input plan_resize accepts: far above any sensible detector input (512..1333 px sides), low enough
// that a hostile aspect ratio (1 x 10000 → 512 x 5120000) is refused before anything is allocated.
constexpr double kMaxPlannedPixels = 64.0 * 1024 * 1024;
// resize_bicubic's bound on its output, so a bad call fails clearly instead of allocating gigabytes (it also keeps
// a row's byte count, 3 * width, within int).
constexpr double kMaxResizePixels = 256.0 * 1024 * 1024;

std::string size_text(int w, int h) {
  return std::to_string(w) + "x" + std::to_string(h);
}

std::string whole_number(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.0f", v);
  return text;
}

// ---------------------------------------------------------------------------------------------------------------
// Pillow-compatible bicubic resampling

constexpr int kPrecisionBits = 32 - 8 - 2;                         // Pillow's fixed-point precision for 8-bit images
constexpr std::int32_t kRoundingBias = 1 << (kPrecisionBits - 1);  // added before the final shift
constexpr double kBicubicSupport = 2.0;

// Keys' cubic convolution kernel with a = -0.5 (Pillow's BICUBIC), written in the same Horner form so that the
// double results, and hence the fixed-point coefficients, are identical.
double bicubic(double x) {
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

std::int32_t to_fixed(double weight) {
  const double scaled = weight * static_cast<double>(1 << kPrecisionBits);
  return static_cast<std::int32_t>(weight < 0 ? scaled - 0.5 : scaled + 0.5);  // half away from zero, truncated
}

std::uint8_t clip8(std::int32_t sum) {
  const std::int32_t v = sum >> kPrecisionBits;  // arithmetic shift (C++20)
  return static_cast<std::uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// The filter taps of one axis: output i reads `count[i]` source samples starting at `first[i]`, weighted by
// k[i * stride + j]. `first` and `first + count` never decrease with i.
struct AxisPlan {
  int in_size = 0, out_size = 0;
  int stride = 0;  // coefficient slots per output (>= every count)
  std::vector<int> first, count;
  std::vector<std::int32_t> k;  // out_size * stride, zero beyond count
#ifdef KPRCNN_RESIZE_AVX2
  // AVX2 layout for the horizontal pass, see horizontal_avx2: taps in groups of four, `groups` per output (enough
  // for the longest window), each group two vectors of 16 int16 (low 11 bits of k, then k >> 11) laid out as
  // [k0 k1 | k0 k1 | k0 k1 | 0 0 ] [k2 k3 | k2 k3 | k2 k3 | 0 0], zero past the window.
  int groups = 0;
  std::vector<std::int16_t> k_split;
  int safe_outputs = 0, tail_first = 0;
#endif
};

AxisPlan plan_axis(int in_size, int out_size, bool with_simd_layout) {
  AxisPlan p;
  p.in_size = in_size;
  p.out_size = out_size;
  const double scale = static_cast<double>(in_size) / static_cast<double>(out_size);
  const double filter_scale = std::max(scale, 1.0);  // widen the kernel when downscaling (antialiasing)
  const double support = kBicubicSupport * filter_scale;
  const double inv_filter_scale = 1.0 / filter_scale;
  p.stride = static_cast<int>(std::ceil(support)) * 2 + 1;
  p.first.resize(out_size);
  p.count.resize(out_size);
  p.k.assign(static_cast<std::size_t>(out_size) * p.stride, 0);
  std::vector<double> weights(p.stride);
  for (int i = 0; i < out_size; ++i) {
    const double center = (i + 0.5) * scale;
    const int lo = std::max(static_cast<int>(center - support + 0.5), 0);
    const int hi = std::min(static_cast<int>(center + support + 0.5), in_size);
    const int n = std::min(hi - lo, p.stride);
    double sum = 0.0;
    for (int j = 0; j < n; ++j) {
      weights[j] = bicubic((lo + j - center + 0.5) * inv_filter_scale);
      sum += weights[j];
    }
    std::int32_t* k = &p.k[static_cast<std::size_t>(i) * p.stride];
    for (int j = 0; j < n; ++j) k[j] = to_fixed(sum != 0.0 ? weights[j] / sum : weights[j]);
    p.first[i] = lo;
    p.count[i] = std::max(n, 0);
  }
#ifdef KPRCNN_RESIZE_AVX2
  if (with_simd_layout) {
    const int longest = *std::max_element(p.count.begin(), p.count.end());
    p.groups = (longest + 3) / 4;
    p.k_split.assign(static_cast<std::size_t>(out_size) * p.groups * 32, 0);
    for (int i = 0; i < out_size; ++i) {
      const std::int32_t* k = &p.k[static_cast<std::size_t>(i) * p.stride];
      std::int16_t* v = &p.k_split[static_cast<std::size_t>(i) * p.groups * 32];
      for (int j = 0; j < p.count[i]; ++j) {
        std::int16_t* lo = v + (j / 4) * 32 + (j % 4 / 2) * 8 + (j % 2);
        for (int c = 0; c < 3; ++c) {
          lo[2 * c] = static_cast<std::int16_t>(k[j] & 0x7ff);  // k = (k >> 11) * 2048 + (k & 2047)
          lo[2 * c + 16] = static_cast<std::int16_t>(k[j] >> 11);
        }
      }
    }
    p.safe_outputs = 0;
    auto reads_inside = [&](int i) {  // the 16-byte load of the last group ends inside the row
      return 3 * (static_cast<std::int64_t>(p.first[i]) + 4 * (p.groups - 1)) + 16 <=
             3 * static_cast<std::int64_t>(in_size);
    };
    while (p.safe_outputs < out_size && reads_inside(p.safe_outputs)) {
      ++p.safe_outputs;
    }
    p.tail_first = p.safe_outputs < out_size ? p.first[p.safe_outputs] : in_size;
  }
#else
  (void)with_simd_layout;
#endif
  return p;
}

// Scratch memory reused across the rows of one resize call (no allocation per row or pixel).
struct Scratch {
  std::vector<std::uint8_t> tail;  // horizontal_avx2: the end of a source row, zero-padded
  std::vector<std::int32_t> acc;   // vertical accumulators, one per output byte
};

// --- plain kernels (any CPU; also the reference the SIMD kernels are tested against) ---

void horizontal_plain(const std::uint8_t* src, std::uint8_t* dst, const AxisPlan& p, Scratch&) {
  for (int i = 0; i < p.out_size; ++i) {
    const std::int32_t* k = &p.k[static_cast<std::size_t>(i) * p.stride];
    const std::uint8_t* s = src + static_cast<std::size_t>(p.first[i]) * 3;
    std::int32_t r = kRoundingBias, g = kRoundingBias, b = kRoundingBias;
    for (int j = 0, n = p.count[i]; j < n; ++j, s += 3) {
      r += s[0] * k[j];
      g += s[1] * k[j];
      b += s[2] * k[j];
    }
    dst[3 * i + 0] = clip8(r);
    dst[3 * i + 1] = clip8(g);
    dst[3 * i + 2] = clip8(b);
  }
}

void vertical_plain(const std::uint8_t* const* rows, const std::int32_t* k, int n, std::uint8_t* dst, int len,
                    Scratch& scratch) {
  std::int32_t* __restrict acc = scratch.acc.data();
  std::fill(acc, acc + len, kRoundingBias);
  for (int j = 0; j < n; ++j) {
    const std::uint8_t* __restrict s = rows[j];
    const std::int32_t kj = k[j];
    for (int x = 0; x < len; ++x) acc[x] += s[x] * kj;
  }
  for (int x = 0; x < len; ++x) dst[x] = clip8(acc[x]);
}

// --- AVX2 kernels (x86-64 with AVX2, chosen at run time) ---
#ifdef KPRCNN_RESIZE_AVX2

// Two tap pairs of an RGB row as int16: [Ra Rb Ga Gb Ba Bb 0 0] for pixels (0, 1) and (2, 3) from `at`.
__attribute__((target("avx2"))) inline __m256i load_pairs(const std::uint8_t* at, __m256i mask) {
  return _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(at))), mask);
}

// Sums of one group of four taps for one output pixel, accumulated into lo/hi; k: the group's two coefficient
// vectors (std::vector storage is not 32-byte aligned, hence the unaligned loads).
__attribute__((target("avx2"))) inline void accumulate(const std::uint8_t* at, const __m256i* k, __m256i mask,
                                                       __m256i& lo, __m256i& hi) {
  const __m256i px = load_pairs(at, mask);
  lo = _mm256_add_epi32(lo, _mm256_madd_epi16(px, _mm256_loadu_si256(k)));
  hi = _mm256_add_epi32(hi, _mm256_madd_epi16(px, _mm256_loadu_si256(k + 1)));
}

// [R G B 0 | R G B 0] partial sums of two output pixels -> [R G B 0] of a | [R G B 0] of b, rounded and shifted.
__attribute__((target("avx2"))) inline __m256i finish_two(__m256i lo_a, __m256i hi_a, __m256i lo_b, __m256i hi_b) {
  const __m256i a = _mm256_add_epi32(lo_a, _mm256_slli_epi32(hi_a, 11));  // lo + hi * 2048, wrapping
  const __m256i b = _mm256_add_epi32(lo_b, _mm256_slli_epi32(hi_b, 11));
  const __m256i sum = _mm256_add_epi32(_mm256_permute2x128_si256(a, b, 0x20), _mm256_permute2x128_si256(a, b, 0x31));
  return _mm256_srai_epi32(_mm256_add_epi32(sum, _mm256_set1_epi32(kRoundingBias)), kPrecisionBits);
}

// Pillow's products are pixel (8 bits) x coefficient (22 bits + sign); vpmaddwd multiplies 16-bit pairs, so each
// coefficient is split as k = hi * 2048 + lo (lo in 0..2047, |hi| < 2^12) and the two sums are recombined as
// lo_sum + (hi_sum << 11). Wrapping 32-bit adds give the exact sum because the true sum fits in 32 bits.
// Each group of four taps is one 16-byte load of the row, shuffled into two int16 tap pairs per channel. Four
// output pixels are computed together (independent chains, one shared final packing).
__attribute__((target("avx2"))) void horizontal_avx2(const std::uint8_t* src, std::uint8_t* dst, const AxisPlan& p,
                                                     Scratch& scratch) {
  const int w = p.in_size, groups = p.groups, out = p.out_size;
  // Outputs past `safe` could load beyond the row end: they read a zero-padded copy of the row's tail.
  const int safe = p.safe_outputs, tail_first = p.tail_first;
  std::uint8_t* tail = scratch.tail.data();
  if (safe < out) std::memcpy(tail, src + 3 * tail_first, 3 * static_cast<std::size_t>(w - tail_first));
  auto window = [&](int i) -> const std::uint8_t* {
    const int s = p.first[i];
    return i < safe ? src + 3 * static_cast<std::size_t>(s) : tail + 3 * static_cast<std::size_t>(s - tail_first);
  };
  const __m256i mask = _mm256_setr_epi8(0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1,  //
                                        6, -1, 9, -1, 7, -1, 10, -1, 8, -1, 11, -1, -1, -1, -1, -1);
  const std::size_t k_per_output = static_cast<std::size_t>(groups) * 2;  // vectors (unaligned: loadu)
  const __m256i* k0 = reinterpret_cast<const __m256i*>(p.k_split.data());
  // dword order after packing [a c a c | b d b d] -> a b c d, then drop every fourth byte
  const __m256i to_abcd = _mm256_setr_epi32(0, 4, 1, 5, 0, 0, 0, 0);
  const __m128i to_rgb = _mm_setr_epi8(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1);
  int i = 0;
  for (; i + 4 <= out; i += 4) {
    const __m256i* ka = k0 + i * k_per_output;
    const __m256i* kb = ka + k_per_output;
    const __m256i* kc = kb + k_per_output;
    const __m256i* kd = kc + k_per_output;
    const std::uint8_t *a = window(i), *b = window(i + 1), *c = window(i + 2), *d = window(i + 3);
    __m256i lo_a = _mm256_setzero_si256(), hi_a = lo_a, lo_b = lo_a, hi_b = lo_a;
    __m256i lo_c = lo_a, hi_c = lo_a, lo_d = lo_a, hi_d = lo_a;
    for (int g = 0; g < groups; ++g) {
      accumulate(a + 12 * g, ka + 2 * g, mask, lo_a, hi_a);
      accumulate(b + 12 * g, kb + 2 * g, mask, lo_b, hi_b);
      accumulate(c + 12 * g, kc + 2 * g, mask, lo_c, hi_c);
      accumulate(d + 12 * g, kd + 2 * g, mask, lo_d, hi_d);
    }
    const __m256i ab = finish_two(lo_a, hi_a, lo_b, hi_b), cd = finish_two(lo_c, hi_c, lo_d, hi_d);
    const __m256i packed = _mm256_packs_epi32(ab, cd);  // [a c | b d] as int16
    const __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_packus_epi16(packed, packed), to_abcd);
    const __m128i rgb = _mm_shuffle_epi8(_mm256_castsi256_si128(bytes), to_rgb);
    std::uint8_t* o = dst + 3 * static_cast<std::size_t>(i);
    if (i + 6 <= out) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(o), rgb);  // 4 bytes spill into the next (unwritten) outputs
    } else {
      alignas(16) std::uint8_t tmp[16];
      _mm_store_si128(reinterpret_cast<__m128i*>(tmp), rgb);
      std::memcpy(o, tmp, 12);
    }
  }
  for (; i < out; ++i) {
    const __m256i* ka = k0 + i * k_per_output;
    const std::uint8_t* a = window(i);
    __m256i lo_a = _mm256_setzero_si256(), hi_a = lo_a;
    for (int g = 0; g < groups; ++g) accumulate(a + 12 * g, ka + 2 * g, mask, lo_a, hi_a);
    const __m256i sum = finish_two(lo_a, hi_a, lo_a, hi_a);
    const __m256i bytes = _mm256_packus_epi16(_mm256_packs_epi32(sum, sum), sum);
    const std::uint32_t rgb0 = static_cast<std::uint32_t>(_mm256_cvtsi256_si32(bytes));
    std::memcpy(dst + 3 * static_cast<std::size_t>(i), &rgb0, 3);  // little-endian: R, G, B
  }
}

__attribute__((target("avx2"))) void vertical_avx2(const std::uint8_t* const* rows, const std::int32_t* k, int n,
                                                   std::uint8_t* dst, int len, Scratch& scratch) {
  const __m256i bias = _mm256_set1_epi32(kRoundingBias);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  int x = 0;
  for (; x + 32 <= len; x += 32) {
    __m256i a0 = bias, a1 = bias, a2 = bias, a3 = bias;
    for (int j = 0; j < n; ++j) {
      const std::uint8_t* s = rows[j] + x;
      const __m256i kj = _mm256_set1_epi32(k[j]);
      a0 = _mm256_add_epi32(
          a0, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(s))), kj));
      a1 = _mm256_add_epi32(
          a1, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(s + 8))), kj));
      a2 = _mm256_add_epi32(
          a2, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(s + 16))), kj));
      a3 = _mm256_add_epi32(
          a3, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(s + 24))), kj));
    }
    a0 = _mm256_srai_epi32(a0, kPrecisionBits);
    a1 = _mm256_srai_epi32(a1, kPrecisionBits);
    a2 = _mm256_srai_epi32(a2, kPrecisionBits);
    a3 = _mm256_srai_epi32(a3, kPrecisionBits);
    // packs/packus work per 128-bit lane; the permutation restores byte order.
    const __m256i bytes = _mm256_packus_epi16(_mm256_packs_epi32(a0, a1), _mm256_packs_epi32(a2, a3));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + x), _mm256_permutevar8x32_epi32(bytes, order));
  }
  if (x < len) {
    std::int32_t* acc = scratch.acc.data();
    std::fill(acc + x, acc + len, kRoundingBias);
    for (int j = 0; j < n; ++j) {
      for (int t = x; t < len; ++t) acc[t] += rows[j][t] * k[j];
    }
    for (int t = x; t < len; ++t) dst[t] = clip8(acc[t]);
  }
}

bool cpu_has_avx2() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") != 0;
  }();
  return has;
}
#endif

struct Kernels {
  void (*horizontal)(const std::uint8_t*, std::uint8_t*, const AxisPlan&, Scratch&);
  void (*vertical)(const std::uint8_t* const*, const std::int32_t*, int, std::uint8_t*, int, Scratch&);
  bool simd;
};

Kernels select_kernels(bool allow_simd) {
#ifdef KPRCNN_RESIZE_AVX2
  if (allow_simd && cpu_has_avx2()) {
    return {horizontal_avx2, vertical_avx2, true};
  }
#else
  (void)allow_simd;
#endif
  return {horizontal_plain, vertical_plain, false};
}

Image make_image(int width, int height) {
  Image image;
  image.width = width;
  image.height = height;
  image.pixels.resize(static_cast<std::size_t>(width) * height * 3);
  return image;
}

void check_image(const Image& image, const char* what) {
  if (image.empty()) {
    throw Error(ErrorCode::kInvalidArgument, std::string(what) + ": the image is empty (" +
                                                 size_text(image.width, image.height) +
                                                 "); decode a non-empty image first");
  }
  if (image.pixels.size() != static_cast<std::size_t>(image.width) * image.height * 3) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string(what) + ": the image holds " + std::to_string(image.pixels.size()) + " bytes, but " +
                    size_text(image.width, image.height) + " RGB needs " +
                    std::to_string(static_cast<std::size_t>(image.width) * image.height * 3) +
                    "; build images with Image(w, h) or the decoders");
  }
}

Image resize_with(const Image& src, int width, int height, const Kernels& kernels) {
  check_image(src, "resize");
  if (width <= 0 || height <= 0) {
    throw Error(ErrorCode::kInvalidArgument, "resize: target size " + size_text(width, height) +
                                                 " is empty; both sides must be at least 1 (use plan_resize)");
  }
  if (static_cast<double>(width) * height > kMaxResizePixels) {
    throw Error(ErrorCode::kInvalidArgument, "resize: target size " + size_text(width, height) +
                                                 " is over the 256 Mpx limit; use plan_resize for model inputs");
  }
  if (width == src.width && height == src.height) return src;  // Pillow returns a copy

  Image out = make_image(width, height);
  const bool horizontal = width != src.width, vertical = height != src.height;
  const AxisPlan ph = horizontal ? plan_axis(src.width, width, kernels.simd) : AxisPlan{};
  const AxisPlan pv = vertical ? plan_axis(src.height, height, false) : AxisPlan{};
  const int row_bytes = width * 3;

  Scratch scratch;
#ifdef KPRCNN_RESIZE_AVX2
  if (horizontal && kernels.simd) {
    scratch.tail.assign(3 * static_cast<std::size_t>(src.width - ph.tail_first) + 12 * ph.groups + 16, 0);
  }
#endif
  if (vertical) scratch.acc.resize(row_bytes);

  if (!vertical) {
    for (int y = 0; y < height; ++y) kernels.horizontal(src.row(y), out.row(y), ph, scratch);
    return out;
  }

  std::vector<const std::uint8_t*> rows(pv.stride);
  if (!horizontal) {
    for (int y = 0; y < height; ++y) {
      for (int j = 0; j < pv.count[y]; ++j) rows[j] = src.row(pv.first[y] + j);
      kernels.vertical(rows.data(), &pv.k[static_cast<std::size_t>(y) * pv.stride], pv.count[y], out.row(y), row_bytes,
                       scratch);
    }
    return out;
  }

  // Both passes: horizontally resampled rows live in a ring of pv.stride rows, each computed once, when the first
  // output row that needs it comes up (windows only move down), so the intermediate image stays in cache.
  const int ring = pv.stride;
  std::vector<std::uint8_t> band(static_cast<std::size_t>(ring) * row_bytes);
  int next = 0;  // first source row not yet resampled horizontally
  for (int y = 0; y < height; ++y) {
    const int lo = pv.first[y], n = pv.count[y];
    next = std::max(next, lo);
    for (; next < lo + n; ++next) {
      kernels.horizontal(src.row(next), band.data() + static_cast<std::size_t>(next % ring) * row_bytes, ph, scratch);
    }
    for (int j = 0; j < n; ++j) rows[j] = band.data() + static_cast<std::size_t>((lo + j) % ring) * row_bytes;
    kernels.vertical(rows.data(), &pv.k[static_cast<std::size_t>(y) * pv.stride], n, out.row(y), row_bytes, scratch);
  }
  return out;
}

const std::array<float, 256>& unit_table() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (int v = 0; v < 256; ++v) t[v] = static_cast<float>(v) / 255.0f;  // float32 division, as torch's div(255)
    return t;
  }();
  return table;
}

}  // namespace

Size plan_resize(int width, int height, int target, int divisor) {
  if (width <= 0 || height <= 0) {
    throw Error(ErrorCode::kInvalidArgument, "cannot resize an empty image (" + size_text(width, height) +
                                                 "): it has no pixels; check that the image decoded correctly");
  }
  if (target < 1) {
    throw Error(ErrorCode::kInvalidArgument, "resize target size must be at least 1 pixel (got " +
                                                 std::to_string(target) + "); pass the model's input size, e.g. 512");
  }
  // The recipe, in Python doubles: ratio = min(size) / target; longer side int(max(size) / ratio). numpy's argmin
  // and argmax both pick index 0 on a tie, so a square image yields [int(max / ratio), target] (width, height).
  const int shorter = std::min(width, height), longer = std::max(width, height);
  const double ratio = static_cast<double>(shorter) / static_cast<double>(target);
  const double scaled = std::trunc(static_cast<double>(longer) / ratio);
  if (scaled * target > kMaxPlannedPixels) {
    const std::string planned = width < height ? std::to_string(target) + "x" + whole_number(scaled)
                                               : whole_number(scaled) + "x" + std::to_string(target);
    throw Error(ErrorCode::kInvalidArgument,
                "image " + size_text(width, height) + " is too elongated to feed to the model: scaling its shorter " +
                    "side to " + std::to_string(target) + " px gives a " + planned + " input (" +
                    whole_number(scaled * target / 1e6) + " Mpx), over the 64 Mpx cap; crop it to a less extreme " +
                    "aspect ratio or use a smaller size");
  }
  const int long_side = static_cast<int>(scaled);
  Size size = width < height ? Size{target, long_side} : Size{long_side, target};
  if (divisor > 0) {
    size.width -= size.width % divisor;
    size.height -= size.height % divisor;
    if (size.width == 0 || size.height == 0) {
      throw Error(ErrorCode::kInvalidArgument,
                  "resize target " + std::to_string(target) + " rounded down to a multiple of the divisor " +
                      std::to_string(divisor) + " gives an empty side (" + size_text(size.width, size.height) +
                      "); use a target of at least " + std::to_string(divisor) + " or a smaller divisor");
    }
  }
  return size;
}

Image resize_bicubic(const Image& src, int width, int height) {
  static const Kernels kernels = select_kernels(true);
  return resize_with(src, width, height, kernels);
}

namespace detail {
Image resize_bicubic_plain(const Image& src, int width, int height) {
  return resize_with(src, width, height, select_kernels(false));
}
bool resize_uses_simd() {
  return select_kernels(true).simd;
}
}  // namespace detail

void to_chw_float(const Image& image, float* out) {
  check_image(image, "to_chw_float");
  const std::array<float, 256>& unit = unit_table();
  const std::size_t plane = static_cast<std::size_t>(image.width) * image.height;
  const std::uint8_t* p = image.pixels.data();
  float* __restrict r = out;
  float* __restrict g = out + plane;
  float* __restrict b = out + 2 * plane;
  for (std::size_t i = 0; i < plane; ++i, p += 3) {
    r[i] = unit[p[0]];
    g[i] = unit[p[1]];
    b[i] = unit[p[2]];
  }
}

std::vector<float> to_chw_float(const Image& image) {
  check_image(image, "to_chw_float");
  std::vector<float> out(static_cast<std::size_t>(image.width) * image.height * 3);
  to_chw_float(image, out.data());
  return out;
}

}  // namespace kprcnn

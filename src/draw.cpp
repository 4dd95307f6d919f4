// Dependency-free antialiased drawing on RGB8 images.
//
// Discs and lines are filled by coverage: each pixel's coverage is the fraction of an 8x8 grid of sub-pixel
// samples inside the shape, computed only for pixels near the edge (the shapes' signed distances are exact
// Euclidean distances, so a pixel whose centre is more than half a diagonal from the edge is wholly in or out).
// The sample grid is symmetric under mirroring and transposition and the distance formulas are written
// symmetrically in x and y, so drawing on a transposed image with swapped coordinates gives exactly the transposed
// result. Rectangle outlines use exact analytic coverage. Work is bounded by the clipped bounding box.
#include "kprcnn/draw.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace kprcnn {
namespace {

constexpr int kGrid = 8;                      // sub-samples per axis on edge pixels
constexpr double kHalfDiagonal = 0.70710679;  // > sqrt(2) / 2

bool finite(double v) {
  return std::isfinite(v);
}

// Mixes `color` into pixel (x, y) with weight coverage * opacity.
void blend(Image& image, int x, int y, Rgb color, double alpha) {
  if (alpha <= 0.0) return;
  std::uint8_t* p = image.row(y) + static_cast<std::size_t>(x) * 3;
  if (alpha >= 1.0) {
    p[0] = color.r;
    p[1] = color.g;
    p[2] = color.b;
    return;
  }
  const std::uint8_t src[3] = {color.r, color.g, color.b};
  for (int c = 0; c < 3; ++c) {
    const double v = p[c] + (src[c] - p[c]) * alpha;  // stays within [0, 255]
    p[c] = static_cast<std::uint8_t>(v + 0.5);
  }
}

// Pixel index range [lo, hi] covering [a, b] in continuous coordinates, clipped to [0, size - 1]; empty if lo > hi.
std::array<int, 2> pixel_span(double a, double b, int size) {
  const double lo = std::clamp(std::floor(a), 0.0, static_cast<double>(size));
  const double hi = std::clamp(std::floor(b), -1.0, static_cast<double>(size - 1));
  return {static_cast<int>(lo), static_cast<int>(hi)};
}

// Fills the shape whose signed distance (negative inside) is `sdf`, within the bounding box [x0, x1] x [y0, y1].
template <class Sdf>
void fill(Image& image, double x0, double y0, double x1, double y1, Sdf sdf, Rgb color, double opacity) {
  if (image.empty()) return;
  const auto [xa, xb] = pixel_span(x0, x1, image.width);
  const auto [ya, yb] = pixel_span(y0, y1, image.height);
  for (int y = ya; y <= yb; ++y) {
    for (int x = xa; x <= xb; ++x) {
      const double d = sdf(x + 0.5, y + 0.5);
      if (d >= kHalfDiagonal) continue;
      double coverage = 1.0;
      if (d > -kHalfDiagonal) {
        int inside = 0;
        for (int j = 0; j < kGrid; ++j) {
          const double py = y + (j + 0.5) / kGrid;
          for (int i = 0; i < kGrid; ++i) inside += sdf(x + (i + 0.5) / kGrid, py) < 0.0;
        }
        coverage = static_cast<double>(inside) / (kGrid * kGrid);
      }
      blend(image, x, y, color, coverage * opacity);
    }
  }
}

// Length of the part of [a0, a1] inside [b0, b1].
double overlap(double a0, double a1, double b0, double b1) {
  return std::max(0.0, std::min(a1, b1) - std::max(a0, b0));
}

double clamp_opacity(float opacity) {
  return std::isnan(opacity) ? 0.0 : std::clamp(static_cast<double>(opacity), 0.0, 1.0);
}

// Colours for keypoint classes the metadata does not name.
constexpr std::array<Rgb, 8> kFallback = {{{255, 64, 64},
                                           {64, 255, 64},
                                           {64, 128, 255},
                                           {255, 255, 64},
                                           {255, 64, 255},
                                           {64, 255, 255},
                                           {255, 160, 32},
                                           {160, 96, 255}}};

Rgb class_color(const std::vector<KeypointInfo>& keypoints, std::size_t i) {
  return i < keypoints.size() ? keypoints[i].color : kFallback[i % kFallback.size()];
}

}  // namespace

void draw_circle(Image& image, float cx, float cy, float radius, Rgb color, float opacity) {
  const double x = cx, y = cy, r = radius, alpha = clamp_opacity(opacity);
  if (!finite(x) || !finite(y) || !finite(r) || r <= 0.0 || alpha <= 0.0) return;
  fill(
      image, x - r, y - r, x + r, y + r,
      [x, y, r](double px, double py) {
        const double dx = px - x, dy = py - y;
        return std::sqrt(dx * dx + dy * dy) - r;
      },
      color, alpha);
}

void draw_line(Image& image, float x0, float y0, float x1, float y1, float width, Rgb color, float opacity) {
  const double ax = x0, ay = y0, bx = x1, by = y1, r = 0.5 * width, alpha = clamp_opacity(opacity);
  if (!finite(ax) || !finite(ay) || !finite(bx) || !finite(by) || !finite(r) || r <= 0.0 || alpha <= 0.0) return;
  const double dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy;
  // Capsule: distance to the segment minus half the width (round caps).
  fill(
      image, std::min(ax, bx) - r, std::min(ay, by) - r, std::max(ax, bx) + r, std::max(ay, by) + r,
      [=](double px, double py) {
        const double qx = px - ax, qy = py - ay;
        const double t = len2 > 0.0 ? std::clamp((qx * dx + qy * dy) / len2, 0.0, 1.0) : 0.0;
        const double ex = qx - dx * t, ey = qy - dy * t;
        return std::sqrt(ex * ex + ey * ey) - r;
      },
      color, alpha);
}

void draw_rect(Image& image, const Box& box, float width, Rgb color, float opacity) {
  const double alpha = clamp_opacity(opacity), half = 0.5 * width;
  if (image.empty() || !finite(box.x1) || !finite(box.y1) || !finite(box.x2) || !finite(box.y2) || !finite(half) ||
      half <= 0.0 || alpha <= 0.0) {
    return;
  }
  const double left = std::min(box.x1, box.x2), right = std::max(box.x1, box.x2);
  const double top = std::min(box.y1, box.y2), bottom = std::max(box.y1, box.y2);
  // The stroke is centred on the box edges: the outer rectangle minus the inner one, with exact area coverage.
  const double ox0 = left - half, ox1 = right + half, oy0 = top - half, oy1 = bottom + half;
  const double ix0 = left + half, ix1 = right - half, iy0 = top + half, iy1 = bottom - half;
  const auto [xa, xb] = pixel_span(ox0, ox1, image.width);
  const auto [ya, yb] = pixel_span(oy0, oy1, image.height);
  for (int y = ya; y <= yb; ++y) {
    const double outer_y = overlap(y, y + 1.0, oy0, oy1), inner_y = overlap(y, y + 1.0, iy0, iy1);
    const auto run = [&](int from, int to) {
      for (int x = from; x <= to; ++x) {
        const double coverage = outer_y * overlap(x, x + 1.0, ox0, ox1) - inner_y * overlap(x, x + 1.0, ix0, ix1);
        blend(image, x, y, color, coverage * alpha);
      }
    };
    if (inner_y < 1.0) {
      run(xa, xb);
      continue;
    }
    // A row inside the inner rectangle's vertical extent: only its left and right strokes have coverage.
    const auto [la, lb] = pixel_span(ox0, ix0, image.width);
    const auto [ra, rb] = pixel_span(ix1, ox1, image.width);
    if (ra <= lb + 1) {
      run(la, std::max(lb, rb));
    } else {
      run(la, lb);
      run(ra, rb);
    }
  }
}

void draw_detections(Image& image, const std::vector<Detection>& detections, const std::vector<KeypointInfo>& keypoints,
                     const DrawOptions& options, const std::vector<std::pair<int, int>>& skeleton) {
  if (image.empty()) return;
  const float radius = options.radius > 0
                           ? options.radius
                           : std::max(2.0f, static_cast<float>(std::min(image.width, image.height)) / 100);
  const float line_width = options.line_width > 0 ? options.line_width : std::max(1.0f, radius / 2);
  // Lowest score first, so the most confident detection ends up on top; boxes, then lines, then dots.
  const auto each = [&](auto&& draw) {
    for (auto it = detections.rbegin(); it != detections.rend(); ++it) draw(*it);
  };
  if (options.boxes) {
    each([&](const Detection& d) {
      draw_rect(image, d.box, line_width, keypoints.empty() ? Rgb{255, 255, 255} : keypoints[0].color);
    });
  }
  if (options.skeleton && !skeleton.empty()) {
    each([&](const Detection& d) {
      const int n = static_cast<int>(d.keypoints.size());
      for (const auto& [a, b] : skeleton) {
        if (a < 0 || b < 0 || a >= n || b >= n) continue;
        const Rgb ca = class_color(keypoints, a), cb = class_color(keypoints, b);
        const Rgb mix{static_cast<std::uint8_t>((ca.r + cb.r + 1) / 2),
                      static_cast<std::uint8_t>((ca.g + cb.g + 1) / 2),
                      static_cast<std::uint8_t>((ca.b + cb.b + 1) / 2)};
        draw_line(image, d.keypoints[a].x, d.keypoints[a].y, d.keypoints[b].x, d.keypoints[b].y, line_width, mix);
      }
    });
  }
  each([&](const Detection& d) {
    for (std::size_t i = 0; i < d.keypoints.size(); ++i) {
      draw_circle(image, d.keypoints[i].x, d.keypoints[i].y, radius, class_color(keypoints, i));
    }
  });
}

}  // namespace kprcnn

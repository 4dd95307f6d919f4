// kprcnn/draw.h — annotate images: dependency-free drawing on kprcnn::Image (RGB8).
//
// All shapes are antialiased by exact coverage (sub-pixel sampling) and alpha-blended over the image; anything
// outside the image is clipped, non-finite coordinates draw nothing.
#pragma once

#include <utility>
#include <vector>

#include "kprcnn/image.h"
#include "kprcnn/types.h"

namespace kprcnn {

// Filled, antialiased disc centred at (cx, cy) in pixel coordinates (pixel centres at +0.5).
void draw_circle(Image& image, float cx, float cy, float radius, Rgb color, float opacity = 1.0f);
// Antialiased line segment of the given width.
void draw_line(Image& image, float x0, float y0, float x1, float y1, float width, Rgb color, float opacity = 1.0f);
// Rectangle outline.
void draw_rect(Image& image, const Box& box, float width, Rgb color, float opacity = 1.0f);

struct DrawOptions {
  float radius = 0;      // keypoint radius in pixels; 0: scales with the image (max(2, shorter side / 100))
  bool boxes = false;    // draw detection boxes
  bool skeleton = true;  // draw skeleton lines when the model has one
  float line_width = 0;  // 0: max(1, radius / 2)
};

// The recipe's look: one filled circle per keypoint, in its class colour.
void draw_detections(Image& image, const std::vector<Detection>& detections, const std::vector<KeypointInfo>& keypoints,
                     const DrawOptions& options = {}, const std::vector<std::pair<int, int>>& skeleton = {});

}  // namespace kprcnn

// Units of apps/server/metrics.cpp (Prometheus text).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "metrics.h"

namespace kprcnn::server {
namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.rfind(line + "\n", 0) == 0;
}

TEST(Histogram, CumulativeBucketsSumAndCount) {
  Histogram h({0.1, 1, 10});
  for (double v : {0.05, 0.1, 0.5, 5.0, 50.0}) h.observe(v);
  std::string out;
  h.render(out, "x_seconds", "route=\"/a\"");
  EXPECT_TRUE(has_line(out, "x_seconds_bucket{route=\"/a\",le=\"0.1\"} 2")) << out;  // le is inclusive
  EXPECT_TRUE(has_line(out, "x_seconds_bucket{route=\"/a\",le=\"1\"} 3")) << out;
  EXPECT_TRUE(has_line(out, "x_seconds_bucket{route=\"/a\",le=\"10\"} 4")) << out;
  EXPECT_TRUE(has_line(out, "x_seconds_bucket{route=\"/a\",le=\"+Inf\"} 5")) << out;
  EXPECT_TRUE(has_line(out, "x_seconds_sum{route=\"/a\"} 55.65")) << out;
  EXPECT_TRUE(has_line(out, "x_seconds_count{route=\"/a\"} 5")) << out;
}

TEST(Metrics, RendersEveryFamilyWithHelpAndType) {
  Metrics m;
  m.request("/v1/predict", 200, 0.02);
  m.request("/v1/predict", 200, 0.03);
  m.request("/v1/predict", 503, 0.001);
  m.reject("queue_full");
  m.inference(0.5);
  m.queue_wait(0.01);
  m.image_decoded();
  m.image_rejected();
  m.add_gauge("kprcnn_queue_depth", "Depth.", [] { return 3.0; });
  const std::string text = m.render();
  EXPECT_TRUE(has_line(text, "kprcnn_http_requests_total{route=\"/v1/predict\",status=\"200\"} 2")) << text;
  EXPECT_TRUE(has_line(text, "kprcnn_http_requests_total{route=\"/v1/predict\",status=\"503\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "kprcnn_rejects_total{reason=\"queue_full\"} 1")) << text;
  EXPECT_TRUE(has_line(text, "kprcnn_http_request_duration_seconds_count{route=\"/v1/predict\"} 3")) << text;
  EXPECT_TRUE(has_line(text, "kprcnn_inference_seconds_count 1")) << text;
  EXPECT_TRUE(has_line(text, "kprcnn_images_decoded_total 1")) << text;
  EXPECT_TRUE(has_line(text, "kprcnn_images_rejected_total 1")) << text;
  EXPECT_TRUE(has_line(text, "kprcnn_queue_depth 3")) << text;
  EXPECT_TRUE(has_line(text, "# TYPE kprcnn_queue_depth gauge")) << text;
  EXPECT_TRUE(has_line(text, "# TYPE kprcnn_http_request_duration_seconds histogram")) << text;
  EXPECT_EQ(m.rejects("queue_full"), 1u);
  EXPECT_EQ(m.rejects("never"), 0u);
}

TEST(Metrics, ValueFormatting) {
  EXPECT_EQ(format_metric_value(0.25), "0.25");
  EXPECT_EQ(format_metric_value(3), "3");
  EXPECT_EQ(format_metric_value(1.0 / 0.0), "+Inf");
  EXPECT_EQ(format_metric_value(0.0 / 0.0), "NaN");
}

}  // namespace
}  // namespace kprcnn::server

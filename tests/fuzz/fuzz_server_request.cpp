// The server's request handling after the body has arrived, without a socket: what apps/server/server.cpp's
// on_body() and its worker do (server::parse_predict_input: multipart/form-data, the query parameters; then
// decode → predict → JSON or annotated image through server::predict), fed raw bytes (fault rows 1, 3, 6,
// 9, 13).
// Invariants: a part always lies inside the body; every answer is 200, 400 or 413 with a JSON body for errors
// (valid JSON, every detection value a finite number), a PNG/JPEG for annotations; nothing throws.
//
// Input layout: the Content-Type header up to the first '\n', the query string ("threshold=0.5&annotate=png") up to
// the second '\n', then the body. The predict step runs when a model loads: $KPRCNN_FUZZ_MODEL, default the tiny
// fake model the build writes (tests/server/fake_models.py's bright detector); without one, parsing only.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "fuzz_input.h"
#include "handlers.h"
#include "kprcnn/detector.h"
#include "kprcnn/error.h"
#include "options.h"

#ifndef KPRCNN_FUZZ_MODEL_DEFAULT
#define KPRCNN_FUZZ_MODEL_DEFAULT ""
#endif

namespace {

using kprcnn::fuzz::fail;
namespace server = kprcnn::server;

std::unique_ptr<kprcnn::Detector> g_detector;

std::string_view next_line(std::string_view& rest) {
  const std::size_t eol = rest.find('\n');
  const std::string_view line = rest.substr(0, eol);
  rest.remove_prefix(eol == std::string_view::npos ? rest.size() : eol + 1);
  return line;
}

std::map<std::string, std::string, std::less<>> parse_query(std::string_view query) {
  std::map<std::string, std::string, std::less<>> args;
  while (!query.empty()) {
    const std::string_view pair = query.substr(0, query.find('&'));
    query.remove_prefix(std::min(query.size(), pair.size() + 1));
    const std::size_t eq = pair.find('=');
    args.emplace(std::string(pair.substr(0, eq)), eq == std::string_view::npos ? "" : std::string(pair.substr(eq + 1)));
  }
  return args;
}

void check_error_body(const server::Response& r) {
  const auto doc = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.contains("error")) fail("error answer is not {\"error\": ...} JSON:", r.body.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* env = std::getenv("KPRCNN_FUZZ_MODEL");
  const std::string model = env != nullptr ? env : KPRCNN_FUZZ_MODEL_DEFAULT;
  if (model.empty()) return 0;
  try {
    kprcnn::DetectorOptions options;
    options.intra_op_threads = 1;
    g_detector = std::make_unique<kprcnn::Detector>(model, options);
  } catch (const kprcnn::Error& e) {
    std::fprintf(stderr, "fuzz_server_request: no model (%s); fuzzing the request parsing only\n", e.what());
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view rest = kprcnn::fuzz::as_text({data, size});
  server::HttpRequest request;  // what the HTTP adapter hands the handlers: headers, query, the whole body
  request.content_type = std::string(next_line(rest));
  for (auto& [key, value] : parse_query(next_line(rest))) request.query.emplace_back(key, value);
  request.body = std::string(rest);

  server::ServerOptions options;
  server::PredictInput input;
  try {
    input = server::parse_predict_input(request, options);
  } catch (const kprcnn::Error& e) {
    const server::Response r = server::error_response(e);
    if (r.status != 400) fail("a bad request that is not 400:", e.what());
    check_error_body(r);
    return 0;
  }
  if (input.image_offset > request.body.size() || input.image_size > request.body.size() - input.image_offset) {
    fail("form part outside the body");
  }
  const std::string_view image = std::string_view(request.body).substr(input.image_offset, input.image_size);
  const std::string& image_name = input.image_name;
  server::PredictQuery& query = input.query;
  const kprcnn::PredictOptions& p = query.options.predict;
  if (!(p.threshold >= 0.0f && p.threshold <= 1.0f) || p.size < 16 || p.size > 4096 || p.divisor < 1) {
    fail("parse_predict_query let an out-of-range value through");
  }
  if (!g_detector) return 0;

  server::PredictContext ctx;
  ctx.detector = g_detector.get();
  ctx.model_name = "fuzz.onnx";
  // Small image and model input keep every execution fast: a 1 x 4096 image at size 16 is a 16 x 65536 input.
  ctx.max_pixels = 4096;
  query.options.predict.size = 16;
  query.options.predict.divisor = 1;
  server::PredictStats stats;
  const server::Response r = server::predict(ctx, {reinterpret_cast<const std::uint8_t*>(image.data()), image.size()},
                                             image_name, query, stats);
  if (r.status == 200) {
    if (!stats.decoded) fail("200 without a decoded image");
    if (query.annotate == server::Annotate::kNone) {
      // Valid JSON cannot hold NaN or Infinity (the parse would fail); the writer's last resort for them is null,
      // so every number of every detection must be a number.
      const auto doc = nlohmann::json::parse(r.body, nullptr, false);
      if (doc.is_discarded() || !doc.contains("detections")) fail("prediction body is not the result JSON");
      for (const auto& d : doc["detections"]) {
        bool numbers = d["score"].is_number() && d["box"].size() == 4;
        for (const auto& v : d["box"]) numbers = numbers && v.is_number();
        for (const auto& k : d["keypoints"]) numbers = numbers && k["x"].is_number() && k["y"].is_number();
        if (!numbers) fail("a detection with a non-number (non-finite) value:", r.body.c_str());
      }
    } else if (r.body.size() < 8) {
      fail("annotated image body too short");
    }
  } else if (r.status == 400 || r.status == 413) {
    if (!stats.rejected) fail("4xx for an image that decoded");
    check_error_body(r);
  } else {
    fail("unexpected status:", r.body.c_str());
  }
  return 0;
}

// Colormap JSON and the model metadata that carries it ("kprcnn.colormap" is parsed by the same function):
// keypoint names, colours, skeleton. Invariants: a parsed colormap has unique non-empty names and skeleton indices
// in range, and its names (any bytes, possibly invalid UTF-8) go through the JSON writer without an exception;
// bad input is a kColormap error with a message.
#include <cmath>
#include <cstdint>
#include <set>
#include <string>

#include "fuzz_input.h"
#include "kprcnn/error.h"
#include "kprcnn/json.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace kprcnn;
  const std::string_view text = fuzz::as_text({data, size});
  Colormap map;
  try {
    map = parse_colormap(text);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kColormap) fuzz::fail("unexpected error code from parse_colormap:", e.what());
    if (e.what()[0] == '\0') fuzz::fail("error without a message");
    return 0;
  }
  if (map.keypoints.empty()) fuzz::fail("parsed a colormap without keypoints");
  std::set<std::string> names;
  for (const KeypointInfo& k : map.keypoints) {
    if (k.name.empty()) fuzz::fail("empty keypoint name");
    if (!names.insert(k.name).second) fuzz::fail("duplicate keypoint name");
  }
  const int n = static_cast<int>(map.keypoints.size());
  for (const auto& [a, b] : map.skeleton) {
    if (a < 0 || b < 0 || a >= n || b >= n) fuzz::fail("skeleton index out of range");
  }

  // The names as the CLI and the server write them.
  Prediction prediction;
  prediction.width = prediction.height = 10;
  Detection d;
  d.score = 0.9f;
  d.box = {1, 2, 3, 4};
  d.keypoints.resize(map.keypoints.size(), Keypoint{5, 6, 1.5f});
  prediction.detections.push_back(d);
  const std::string json = to_json(prediction, map.keypoints, text.substr(0, 64), "model.onnx");
  if (json.empty() || json.front() != '{') fuzz::fail("to_json wrote no object");
  return 0;
}

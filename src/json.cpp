// The result writer and the colormap reader. nlohmann::json stays inside this file.
#include "kprcnn/json.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <system_error>

#include "kprcnn/error.h"

namespace kprcnn {
namespace {

using Json = nlohmann::ordered_json;  // keeps the documented key order

// A float as the double with the same shortest decimal form, so 0.1f is written 0.1 and not 0.10000000149011612
// (the value read back as float is the same). Non-finite values become null: JSON has no NaN or Infinity.
Json number(float v) {
  if (!std::isfinite(v)) return nullptr;
  char text[32];
  const auto written = std::to_chars(text, text + sizeof text, v);
  double d = v;
  if (written.ec == std::errc()) std::from_chars(text, written.ptr, d);
  return d;
}

[[noreturn]] void fail(const std::string& message) {
  throw Error(ErrorCode::kColormap, message);
}

// A short rendering of a JSON value for error messages.
std::string excerpt(const nlohmann::json& value) {
  std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

// nlohmann's message without its "[json.exception.parse_error.101] " prefix.
std::string json_reason(const nlohmann::json::exception& e) {
  std::string reason = e.what();
  if (const auto cut = reason.find("] "); reason.rfind("[json.exception", 0) == 0 && cut != std::string::npos) {
    reason = reason.substr(cut + 2);
  }
  return reason;
}

constexpr int kMaxDepth = 64;

const char* const kExpected =
    R"(expected {"items": [{"label": "nose", "color": [r, g, b]}, ...]} with r, g, b in 0..1)";

Rgb parse_color(const nlohmann::json& item, const std::string& where) {
  const auto it = item.find("color");
  if (it == item.end()) fail(where + " has no \"color\"; " + kExpected);
  const nlohmann::json& color = *it;
  if (!color.is_array() || color.size() != 3 ||
      !std::all_of(color.begin(), color.end(), [](const nlohmann::json& c) { return c.is_number(); })) {
    fail(where + ": \"color\" must be an array of 3 numbers in 0..1, got " + excerpt(color));
  }
  std::uint8_t channel[3];
  for (int c = 0; c < 3; ++c) {
    const double v = color[c].get<double>();
    if (!(v >= 0.0 && v <= 1.0)) {
      fail(where + ": \"color\" values must be in 0..1 (colour / 255), got " + excerpt(color));
    }
    channel[c] = static_cast<std::uint8_t>(std::clamp(std::lround(v * 255.0), 0L, 255L));
  }
  return {channel[0], channel[1], channel[2]};
}

}  // namespace

std::string to_json(const Prediction& prediction, const std::vector<KeypointInfo>& keypoints,
                    std::string_view image_name, std::string_view model_name, int indent) {
  Json doc;
  doc["image"] = std::string(image_name);
  doc["width"] = prediction.width;
  doc["height"] = prediction.height;
  doc["model"] = std::string(model_name);
  Json detections = Json::array();
  for (const Detection& d : prediction.detections) {
    Json det;
    det["label"] = d.label;
    det["score"] = number(d.score);
    det["box"] = Json::array({number(d.box.x1), number(d.box.y1), number(d.box.x2), number(d.box.y2)});
    Json kps = Json::array();
    for (std::size_t i = 0; i < d.keypoints.size(); ++i) {
      const Keypoint& kp = d.keypoints[i];
      Json k;
      k["name"] = i < keypoints.size() ? keypoints[i].name : "kp" + std::to_string(i);
      k["x"] = number(kp.x);
      k["y"] = number(kp.y);
      k["score"] = number(kp.score);
      kps.push_back(std::move(k));
    }
    det["keypoints"] = std::move(kps);
    detections.push_back(std::move(det));
  }
  doc["detections"] = std::move(detections);
  // Names that are not valid UTF-8 (file names can be anything) get U+FFFD instead of an exception.
  return doc.dump(indent, ' ', false, Json::error_handler_t::replace);
}

std::string to_coco_json(const std::vector<CocoImageResult>& images, int indent) {
  Json doc = Json::array();
  for (const CocoImageResult& image : images) {
    for (const Detection& d : image.detections) {
      Json keypoints = Json::array();
      for (const Keypoint& kp : d.keypoints) {
        keypoints.push_back(number(kp.x));
        keypoints.push_back(number(kp.y));
        keypoints.push_back(2);
      }
      Json entry;
      entry["image_id"] = image.image_id;
      entry["category_id"] = d.label;
      entry["keypoints"] = std::move(keypoints);
      entry["score"] = number(d.score);
      entry["bbox"] =
          Json::array({number(d.box.x1), number(d.box.y1), number(d.box.x2 - d.box.x1), number(d.box.y2 - d.box.y1)});
      doc.push_back(std::move(entry));
    }
  }
  return doc.dump(indent, ' ', false, Json::error_handler_t::replace);
}

Colormap parse_colormap(std::string_view json_text) {
  nlohmann::json doc;
  try {
    // A colormap nests 4 levels deep. Deeper documents are refused while parsing: nlohmann's dump (our error
    // excerpts) recurses once per level, so "[[[[...]]]]" of a few hundred KB would overflow the stack.
    doc = nlohmann::json::parse(
        json_text.begin(), json_text.end(), [](int depth, nlohmann::json::parse_event_t, const nlohmann::json&) {
          if (depth > kMaxDepth) {
            fail("colormap JSON nests deeper than " + std::to_string(kMaxDepth) + " levels; " + kExpected);
          }
          return true;
        });
  } catch (const nlohmann::json::parse_error& e) {
    fail("colormap is not valid JSON (at byte " + std::to_string(e.byte) + "): " + json_reason(e));
  } catch (const nlohmann::json::exception& e) {  // out_of_range.406: a number beyond double ("1e400")
    fail("colormap is not valid JSON: " + json_reason(e));
  }
  if (!doc.is_object()) fail("colormap must be a JSON object, got " + excerpt(doc) + "; " + kExpected);
  const auto items = doc.find("items");
  if (items == doc.end() || !items->is_array()) fail(std::string("colormap has no \"items\" array; ") + kExpected);
  if (items->empty()) fail("colormap \"items\" is empty: list one entry per keypoint, in model order");

  Colormap map;
  std::map<std::string, int, std::less<>> index;
  for (std::size_t i = 0; i < items->size(); ++i) {
    const nlohmann::json& item = (*items)[i];
    const std::string where = "colormap item " + std::to_string(i);
    if (!item.is_object())
      fail(where + " must be an object {\"label\": ..., \"color\": [r, g, b]}, got " + excerpt(item));
    const auto label = item.find("label");
    if (label == item.end() || !label->is_string()) {
      fail(where + ": \"label\" must be a string, got " + (label == item.end() ? "nothing" : excerpt(*label)));
    }
    std::string name = label->get<std::string>();
    if (name.empty()) fail(where + ": \"label\" is empty; give each keypoint a name");
    const Rgb color = parse_color(item, where + " (\"" + name + "\")");
    if (const auto seen = index.find(name); seen != index.end()) {
      fail(where + ": label \"" + name + "\" appears twice (also item " + std::to_string(seen->second) +
           "); labels must be unique");
    }
    index.emplace(name, static_cast<int>(i));
    map.keypoints.push_back({std::move(name), color});
  }

  if (const auto skeleton = doc.find("skeleton"); skeleton != doc.end() && !skeleton->is_null()) {
    if (!skeleton->is_array()) fail("colormap \"skeleton\" must be an array of [label, label] pairs");
    for (std::size_t i = 0; i < skeleton->size(); ++i) {
      const nlohmann::json& pair = (*skeleton)[i];
      const std::string where = "colormap skeleton entry " + std::to_string(i);
      if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string() || !pair[1].is_string()) {
        fail(where + " must be a pair of labels [\"a\", \"b\"], got " + excerpt(pair));
      }
      int ends[2];
      for (int e = 0; e < 2; ++e) {
        const std::string name = pair[e].get<std::string>();
        const auto found = index.find(name);
        if (found == index.end()) fail(where + ": unknown label \"" + name + "\"; use labels from \"items\"");
        ends[e] = found->second;
      }
      map.skeleton.emplace_back(ends[0], ends[1]);
    }
  }
  return map;
}

Colormap read_colormap(const std::filesystem::path& path) {
  constexpr std::uintmax_t kMaxBytes = 16u << 20;  // a colormap is a few KB; refuse to slurp something huge
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw Error(ErrorCode::kIo, "cannot read colormap " + path.string() + ": it is a folder, not a JSON file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw Error(ErrorCode::kIo,
                "cannot read colormap " + path.string() + ": " + std::strerror(errno) + "; check the path");
  }
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (!ec && size > kMaxBytes) {
    throw Error(ErrorCode::kColormap, "colormap " + path.string() + " is " + std::to_string(size) +
                                          " bytes, more than the 16 MiB a colormap can be; is it the right file?");
  }
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw Error(ErrorCode::kIo, "cannot read colormap " + path.string() + ": read error");
  try {
    return parse_colormap(text);
  } catch (const Error& e) {
    throw Error(e.code(), path.string() + ": " + e.what());
  }
}

}  // namespace kprcnn

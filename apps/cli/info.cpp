// kprcnn info: what a model file holds and what this ONNX Runtime offers.
#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "commands.h"
#include "kprcnn/kprcnn.h"

namespace kprcnn::cli {
namespace {

// "internal size: ..." from the export options the exporter records (min_size / max_size of the graph's own
// resize); "" when the model does not say.
std::string internal_size(const std::map<std::string, std::string>& metadata) {
  const auto it = metadata.find("kprcnn.export_options");
  if (it == metadata.end()) return "";
  const auto doc = nlohmann::json::parse(it->second, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("min_size") || !doc["min_size"].is_number_integer()) return "";
  const auto min_size = doc["min_size"].get<long long>();
  std::string text = "shorter side " + std::to_string(min_size);
  if (doc.contains("max_size") && doc["max_size"].is_number_integer()) {
    text += ", longer side at most " + std::to_string(doc["max_size"].get<long long>());
  }
  return text + " (the graph resizes its input to this; kprcnn predict --size " + std::to_string(min_size) +
         " feeds it that size, without a second resize)";
}

}  // namespace

int run_info(const InfoArgs& args) {
  std::cout << "kprcnn " << version() << ", ONNX Runtime " << onnxruntime_version() << "\n";
  std::cout << "execution providers:";
  for (const auto& p : available_providers()) std::cout << " " << p;
  std::cout << "\n";
  const std::string openvino = openvino_version();
  std::cout << "OpenVINO: " << (openvino.empty() ? "unavailable: " + openvino_unavailable_reason() : openvino) << "\n";

  DetectorOptions options;
  options.colormap = args.colormap;
  options.optimization = GraphOptimization::kBasic;  // info only reads the graph's interface: load fast
  const Detector detector(args.model, options);
  const ModelInfo& info = detector.info();
  std::cout << "model: " << info.path.string() << "\n";
  if (!info.producer.empty()) std::cout << "producer: " << info.producer << "\n";
  if (const auto it = info.metadata.find("kprcnn.architecture"); it != info.metadata.end()) {
    std::cout << "architecture: " << it->second << "\n";
  }
  if (const std::string size = internal_size(info.metadata); !size.empty()) {
    std::cout << "internal size: " << size << "\n";
  }
  std::cout << "inputs:\n";
  for (const auto& t : info.inputs) std::cout << "  " << t.name << ": " << to_string(t) << "\n";
  std::cout << "outputs:\n";
  for (const auto& t : info.outputs) std::cout << "  " << t.name << ": " << to_string(t) << "\n";
  std::cout << "keypoints (" << detector.colormap().keypoints.size() << "):\n";
  for (const auto& k : detector.colormap().keypoints) {
    char color[8];
    std::snprintf(color, sizeof color, "#%02x%02x%02x", k.color.r, k.color.g, k.color.b);
    std::cout << "  " << k.name << " " << color << "\n";
  }
  if (!detector.colormap().skeleton.empty()) {
    std::cout << "skeleton:";
    for (const auto& [a, b] : detector.colormap().skeleton) {
      std::cout << " " << detector.colormap().keypoints[a].name << "-" << detector.colormap().keypoints[b].name;
    }
    std::cout << "\n";
  }
  if (!info.metadata.empty()) {
    std::cout << "metadata:\n";
    for (const auto& [key, value] : info.metadata) {
      if (key == "kprcnn.colormap") continue;  // shown above as keypoints
      std::cout << "  " << key << ": " << value << "\n";
    }
  }
  return 0;
}

}  // namespace kprcnn::cli

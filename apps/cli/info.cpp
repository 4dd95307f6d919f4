// kprcnn info: what a model file holds and what this ONNX Runtime offers.
#include <cstdio>
#include <iostream>

#include "commands.h"
#include "kprcnn/kprcnn.h"

namespace kprcnn::cli {
int run_info(const InfoArgs& args) {
  std::cout << "kprcnn " << version() << ", ONNX Runtime " << onnxruntime_version() << "\n";
  std::cout << "execution providers:";
  for (const auto& p : available_providers()) std::cout << " " << p;
  std::cout << "\n";

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
  std::cout << "inputs:\n";
  for (const auto& t : info.inputs) std::cout << "  " << t.name << ": " << to_string(t) << "\n";
  std::cout << "outputs:\n";
  for (const auto& t : info.outputs) std::cout << "  " << t.name << ": " << to_string(t) << "\n";
  std::cout << "keypoints (" << detector.keypoints().size() << "):\n";
  for (const auto& k : detector.keypoints()) {
    char color[8];
    std::snprintf(color, sizeof color, "#%02x%02x%02x", k.color.r, k.color.g, k.color.b);
    std::cout << "  " << k.name << " " << color << "\n";
  }
  if (!detector.skeleton().empty()) {
    std::cout << "skeleton:";
    for (const auto& [a, b] : detector.skeleton()) {
      std::cout << " " << detector.keypoints()[a].name << "-" << detector.keypoints()[b].name;
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

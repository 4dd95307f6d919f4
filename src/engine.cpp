// What every engine shares: the model contract and the checks made before loading. See engine.h.
#include "engine.h"

#include <algorithm>
#include <string>
#include <system_error>
#include <vector>

#include "kprcnn/error.h"
#include "ort/external_data.h"

namespace kprcnn::engine {
namespace {

// One expected tensor: name, type, and per-dimension requirement (-1: any size, dynamic or not).
struct Expected {
  const char* name;
  const char* type;
  std::vector<std::int64_t> dims;
  const char* shown;  // how the contract is written in messages
};

const Expected kInput{"input", "float32", {1, 3, -1, -1}, "float32 [1, 3, H, W]"};
const Expected kOutputs[] = {
    {"boxes", "float32", {-1, 4}, "float32 [N, 4]"},
    {"labels", "int64", {-1}, "int64 [N]"},
    {"scores", "float32", {-1}, "float32 [N]"},
    {"keypoints", "float32", {-1, -1, 3}, "float32 [N, K, 3]"},
    {"keypoints_scores", "float32", {-1, -1}, "float32 [N, K]"},
};

bool matches(const TensorInfo& t, const Expected& e) {
  if (t.type != e.type) return false;
  if (t.dynamic_rank) return true;
  if (t.shape.size() != e.dims.size()) return false;
  for (std::size_t i = 0; i < e.dims.size(); ++i) {
    // A dynamic dimension (< 0) in the model is accepted anywhere; a static one must equal the contract's.
    if (e.dims[i] >= 0 && t.shape[i] >= 0 && t.shape[i] != e.dims[i]) return false;
  }
  return true;
}

std::string list(const std::vector<TensorInfo>& tensors) {
  std::string out;
  for (const auto& t : tensors) out += "\n    " + t.name + ": " + to_string(t);
  return out.empty() ? "\n    (none)" : out;
}

}  // namespace

void check_contract(const ModelInfo& info) {
  std::vector<std::string> problems;
  if (info.inputs.size() != 1) {
    problems.push_back("expected exactly 1 input, found " + std::to_string(info.inputs.size()));
  }
  auto find = [](const std::vector<TensorInfo>& v, const char* name) -> const TensorInfo* {
    auto it = std::find_if(v.begin(), v.end(), [&](const TensorInfo& t) { return t.name == name; });
    return it == v.end() ? nullptr : &*it;
  };
  auto check = [&](const std::vector<TensorInfo>& v, const Expected& e, const char* what) {
    const TensorInfo* t = find(v, e.name);
    if (!t) {
      problems.push_back(std::string("missing ") + what + " '" + e.name + "' " + e.shown);
    } else if (!matches(*t, e)) {
      problems.push_back(std::string(what) + " '" + e.name + "': expected " + e.shown + ", found " + to_string(*t));
    }
  };
  check(info.inputs, kInput, "input");
  for (const auto& e : kOutputs) check(info.outputs, e, "output");
  if (const TensorInfo* kp = find(info.outputs, "keypoints"); kp && kp->shape.size() == 3) {
    const TensorInfo* ks = find(info.outputs, "keypoints_scores");
    if (ks && ks->shape.size() == 2 && kp->shape[1] > 0 && ks->shape[1] > 0 && kp->shape[1] != ks->shape[1]) {
      problems.push_back("outputs 'keypoints' and 'keypoints_scores' disagree on K (" + std::to_string(kp->shape[1]) +
                         " vs " + std::to_string(ks->shape[1]) + ")");
    }
  }
  if (problems.empty()) return;
  std::string message = "model " + info.path.string() + " is not a Keypoint R-CNN export kprcnn can run:";
  for (const auto& p : problems) message += "\n  - " + p;
  message += "\n  found inputs:" + list(info.inputs) + "\n  found outputs:" + list(info.outputs) +
             "\n  Export the checkpoint with `kprcnn export` to get the expected names and shapes.";
  throw Error(ErrorCode::kModelContract, message);
}

void check_model_file(const std::filesystem::path& model) {
  std::error_code ec;
  if (!std::filesystem::exists(model, ec)) {
    throw Error(ErrorCode::kIo, "model file not found: " + model.string());
  }
  if (std::filesystem::is_directory(model, ec)) {
    throw Error(ErrorCode::kIo, "model path is a folder, expected an .onnx file: " + model.string());
  }
  ort::check_external_data(model);  // a protobuf walk (no ONNX Runtime call): engine-independent
}

}  // namespace kprcnn::engine

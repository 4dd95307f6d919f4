// libkprcnn_openvino.so: the OpenVINO engine (plugin_api.h). The only file that includes OpenVINO headers.
#include <openvino/core/version.hpp>
#include <openvino/op/constant.hpp>
#include <openvino/op/util/multi_subgraph_base.hpp>
#include <openvino/openvino.hpp>
#include <openvino/runtime/exception.hpp>

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "kprcnn/version.h"
#include "openvino/plugin_api.h"

namespace kprcnn::openvino_plugin {
namespace {

constexpr const char* kOutputNames[] = {"boxes", "labels", "scores", "keypoints", "keypoints_scores"};

// The runtime we were compiled against; a different libopenvino at run time (another install first on the library
// path) is refused: the plugin ABI of OpenVINO's C++ API is not stable across releases.
std::string built_version() {
  return std::to_string(OPENVINO_VERSION_MAJOR) + "." + std::to_string(OPENVINO_VERSION_MINOR) + "." +
         std::to_string(OPENVINO_VERSION_PATCH);
}

std::string runtime_version() {
  const ov::Version v = ov::get_openvino_version();
  return v.buildNumber ? v.buildNumber : "";
}

const char* type_name(const ov::element::Type& type) {
  if (type == ov::element::f32) return "float32";
  if (type == ov::element::f64) return "float64";
  if (type == ov::element::f16) return "float16";
  if (type == ov::element::bf16) return "bfloat16";
  if (type == ov::element::i64) return "int64";
  if (type == ov::element::i32) return "int32";
  if (type == ov::element::i16) return "int16";
  if (type == ov::element::i8) return "int8";
  if (type == ov::element::u8) return "uint8";
  if (type == ov::element::boolean) return "bool";
  if (type == ov::element::string) return "string";
  return "other";
}

TensorInfo describe_port(const ov::Output<const ov::Node>& port) {
  TensorInfo info;
  const auto& names = port.get_names();
  info.name = names.count("input") ? "input" : port.get_any_name();
  for (const char* name : kOutputNames) {
    if (names.count(name)) info.name = name;
  }
  info.type = type_name(port.get_element_type());
  const ov::PartialShape& shape = port.get_partial_shape();
  info.dynamic_rank = shape.rank().is_dynamic();
  if (shape.rank().is_static()) {
    for (const auto& d : shape) {
      info.shape.push_back(d.is_static() ? d.get_length() : -1);
      info.dims.emplace_back();
    }
  }
  return info;
}

// OpenVINO's ONNX frontend (2026.4, and earlier) turns an empty ONNX Constant (dims [0]) into a one-element
// "failsafe" constant. Where that constant is a subgraph's answer -- torchvision's batched_nms returns
// torch.empty((0,)) from an If branch when no box survives -- the If then yields [0] instead of nothing: one garbage
// detection (a random label and score) on an image where ONNX Runtime and PyTorch find none. Measured on the trained
// model: 1 of 40 validation scenes. Upstream: openvinotoolkit/openvino issue 37598 (same root cause, Expand).
// Repair: a failsafe Constant that feeds a body Result of an If/Loop is replaced by a truly empty constant of the
// rank the subgraph's output declares (or, when that rank is unknown, the other branch's), with no rows. Returns how
// many were replaced.
// The shape another body of `op` gives output `output` (the other branch of an If); a dynamic rank when none.
ov::PartialShape other_branch_shape(const ov::op::util::MultiSubGraphOp& op, std::size_t body, std::uint64_t output) {
  for (std::size_t j = 0; j < op.get_internal_subgraphs_size(); ++j) {
    if (j == body) continue;
    const std::shared_ptr<ov::Model> other = op.get_function(static_cast<int>(j));
    if (!other) continue;
    for (const auto& d : op.get_output_descriptions(static_cast<int>(j))) {
      if (d->m_output_index == output && d->m_body_value_index < other->get_results().size()) {
        return other->get_results()[d->m_body_value_index]->get_input_partial_shape(0);
      }
    }
  }
  return ov::PartialShape::dynamic();
}

int repair_empty_branch_outputs(const std::shared_ptr<ov::Model>& model) {
  int repaired = 0;
  for (const auto& op : model->get_ordered_ops()) {
    const auto multi = std::dynamic_pointer_cast<ov::op::util::MultiSubGraphOp>(op);
    if (!multi) continue;
    for (std::size_t i = 0; i < multi->get_internal_subgraphs_size(); ++i) {
      const std::shared_ptr<ov::Model> body = multi->get_function(static_cast<int>(i));
      if (!body) continue;
      repaired += repair_empty_branch_outputs(body);
      const auto& results = body->get_results();
      for (const auto& description : multi->get_output_descriptions(static_cast<int>(i))) {
        if (description->m_body_value_index >= results.size()) continue;
        const auto& result = results[description->m_body_value_index];
        const auto constant = std::dynamic_pointer_cast<ov::op::v0::Constant>(result->get_input_node_shared_ptr(0));
        if (!constant || !constant->get_rt_info().count("ONNX_FAILSAFE_NODE")) continue;
        ov::PartialShape declared = multi->get_output_partial_shape(description->m_output_index);
        if (declared.rank().is_dynamic()) {
          // The failsafe scalar and the other branch disagree on the rank: take the other branch's (an If).
          declared = other_branch_shape(*multi, i, description->m_output_index);
          if (declared.rank().is_dynamic()) continue;
        }
        // A failsafe constant always stands for an empty tensor: no rows (the leading dimension 0), the other
        // dimensions as declared (dynamic ones 0). A scalar cannot be empty: left alone.
        if (declared.rank().get_length() == 0) continue;
        ov::Shape shape;
        for (const auto& d : declared) shape.push_back(d.is_static() ? static_cast<std::size_t>(d.get_length()) : 0);
        shape[0] = 0;
        result->input(0).replace_source_output(
            std::make_shared<ov::op::v0::Constant>(constant->get_element_type(), shape)->output(0));
        ++repaired;
      }
      body->validate_nodes_and_infer_types();
    }
    multi->validate_and_infer_types();
  }
  if (repaired) model->validate_nodes_and_infer_types();
  return repaired;
}

// The same frontend defect where a model output *is* an empty constant (a graph that can never detect anything):
// OpenVINO would answer a scalar 0. Such an output gets an empty constant of the contract's rank (detector.h).
int repair_empty_model_outputs(const std::shared_ptr<ov::Model>& model) {
  static const std::pair<const char*, ov::Shape> kEmpty[] = {
      {"boxes", {0, 4}}, {"labels", {0}}, {"scores", {0}}, {"keypoints", {0, 0, 3}}, {"keypoints_scores", {0, 0}}};
  int repaired = 0;
  for (const auto& result : model->get_results()) {
    const auto constant = std::dynamic_pointer_cast<ov::op::v0::Constant>(result->get_input_node_shared_ptr(0));
    if (!constant || !constant->get_rt_info().count("ONNX_FAILSAFE_NODE")) continue;
    const auto& names = result->input_value(0).get_names();
    for (const auto& [name, shape] : kEmpty) {
      if (!names.count(name)) continue;
      auto empty = std::make_shared<ov::op::v0::Constant>(constant->get_element_type(), shape);
      empty->output(0).set_names(names);
      result->input(0).replace_source_output(empty->output(0));
      ++repaired;
      break;
    }
  }
  if (repaired) model->validate_nodes_and_infer_types();
  return repaired;
}

Status failure(ErrorCode code, std::string message) {
  return {false, code, std::move(message)};
}

class OpenVinoModel final : public Model {
 public:
  OpenVinoModel(ov::CompiledModel compiled, std::string description)
      : compiled_(std::move(compiled)), description_(std::move(description)) {
    for (const char* name : kOutputNames) {
      // The contract check (done by the caller on describe()) reports a missing output; run() then never runs.
      try {
        outputs_.push_back(compiled_.output(name));
      } catch (const ov::Exception&) {
        outputs_.clear();
        break;
      }
    }
  }

  void describe(std::vector<TensorInfo>& inputs, std::vector<TensorInfo>& outputs) const override {
    for (const auto& p : compiled_.inputs()) inputs.push_back(describe_port(p));
    for (const auto& p : compiled_.outputs()) outputs.push_back(describe_port(p));
  }

  Status run(std::span<const float> chw, int height, int width, engine::Outputs& out,
             CancelToken::State* cancel) const override {
    if (outputs_.size() != std::size(kOutputNames)) return failure(ErrorCode::kInternal, "model outputs not bound");
    const Status cancelled = failure(ErrorCode::kCancelled, CancelScope::cancelled_error().what());
    ov::InferRequest request = acquire();
    Status status;
    try {
      // OpenVINO reads the input in place (no copy); the tensor does not own the memory.
      ov::Tensor input(ov::element::f32,
                       ov::Shape{1, 3, static_cast<std::size_t>(height), static_cast<std::size_t>(width)},
                       const_cast<float*>(chw.data()));
      request.set_input_tensor(input);
      // start_async + wait rather than infer(): cancel() from another thread then ends the wait (ov::Cancelled).
      // wait() returns only once the request is idle again, so the request and `chw` are not in use after it.
      CancelScope scope(cancel, [&request] { request.cancel(); });
      try {
        request.start_async();
        request.wait();
      } catch (const ov::Cancelled&) {
        status = cancelled;
      }
      if (status.ok && scope.cancelled()) status = cancelled;
      if (status.ok) status = copy_outputs(request, out);
    } catch (const Error&) {  // CancelScope: cancelled before the run started
      status = cancelled;
    } catch (const std::exception& e) {
      status = failure(ErrorCode::kInference, std::string("OpenVINO failed to run the model: ") + e.what());
    }
    release(std::move(request));
    return status;
  }

  Status export_blob(std::string& out) const override {
    try {
      std::ostringstream stream(std::ios::binary);
      compiled_.export_model(stream);
      out = std::move(stream).str();
      return {};
    } catch (const std::exception& e) {
      return failure(ErrorCode::kModelLoad, std::string("OpenVINO could not export the compiled model: ") + e.what());
    }
  }

  std::string description() const override { return description_; }

 private:
  // Infer requests are not thread-safe, the compiled model is: each concurrent run takes a request of its own,
  // kept for reuse (a server's N workers end up with N requests; no lock is held while inferring).
  ov::InferRequest acquire() const {
    {
      std::lock_guard lock(mutex_);
      if (!free_.empty()) {
        ov::InferRequest r = std::move(free_.back());
        free_.pop_back();
        return r;
      }
    }
    return compiled_.create_infer_request();
  }
  void release(ov::InferRequest request) const {
    std::lock_guard lock(mutex_);
    free_.push_back(std::move(request));
  }

  template <typename T>
  static Status copy(const ov::Tensor& t, std::size_t expected, std::vector<T>& out, const char* name) {
    if (t.get_size() != expected) {
      return failure(ErrorCode::kInference, std::string("model output '") + name + "' has " +
                                                std::to_string(t.get_size()) + " values, expected " +
                                                std::to_string(expected));
    }
    out.resize(expected);
    if (expected == 0) return {};
    const ov::element::Type type = t.get_element_type();
    if constexpr (std::is_same_v<T, float>) {
      if (type != ov::element::f32) return failure(ErrorCode::kInference, std::string(name) + " is not float32");
      std::memcpy(out.data(), t.data<const float>(), expected * sizeof(float));
    } else {
      if (type == ov::element::i64) {
        std::memcpy(out.data(), t.data<const std::int64_t>(), expected * sizeof(std::int64_t));
      } else if (type == ov::element::i32) {
        const std::int32_t* p = t.data<const std::int32_t>();
        std::copy(p, p + expected, out.begin());
      } else {
        return failure(ErrorCode::kInference, std::string(name) + " is not an integer tensor");
      }
    }
    return {};
  }

  Status copy_outputs(ov::InferRequest& request, engine::Outputs& out) const {
    const ov::Tensor boxes = request.get_tensor(outputs_[0]);
    const ov::Tensor keypoints = request.get_tensor(outputs_[3]);
    const ov::Shape box_shape = boxes.get_shape(), kp_shape = keypoints.get_shape();
    if (box_shape.size() != 2 || kp_shape.size() != 3) {
      return failure(ErrorCode::kInference, "model outputs have unexpected ranks");
    }
    out.n = box_shape[0];
    out.k = kp_shape[1];
    for (const Status& s :
         {copy(boxes, out.n * 4, out.boxes, "boxes"),
          copy(request.get_tensor(outputs_[1]), out.n, out.labels, "labels"),
          copy(request.get_tensor(outputs_[2]), out.n, out.scores, "scores"),
          copy(keypoints, out.n * out.k * 3, out.keypoints, "keypoints"),
          copy(request.get_tensor(outputs_[4]), out.n * out.k, out.keypoint_scores, "keypoints_scores")}) {
      if (!s.ok) return s;
    }
    return {};
  }

  mutable ov::CompiledModel compiled_;  // thread-safe; the C++ API declares some calls non-const
  std::vector<ov::Output<const ov::Node>> outputs_;
  std::string description_;
  mutable std::mutex mutex_;
  mutable std::vector<ov::InferRequest> free_;
};

ov::Core& core() {
  static ov::Core instance;
  return instance;
}

}  // namespace
}  // namespace kprcnn::openvino_plugin

using namespace kprcnn::openvino_plugin;

extern "C" {

__attribute__((visibility("default"))) int kprcnn_openvino_abi() {
  return kAbi;
}

__attribute__((visibility("default"))) const char* kprcnn_openvino_kprcnn_version() {
  return KPRCNN_VERSION_STRING;
}

__attribute__((visibility("default"))) const char* kprcnn_openvino_version() {
  static const std::string v = runtime_version();
  return v.c_str();
}

// "" when the OpenVINO runtime loaded is the one this plugin was built against and has a CPU device.
__attribute__((visibility("default"))) const char* kprcnn_openvino_runtime() {
  static const std::string problem = []() -> std::string {
    const std::string runtime = runtime_version();
    if (runtime.rfind(built_version() + "-", 0) != 0 && runtime != built_version()) {
      return "libopenvino is " + runtime + " but libkprcnn_openvino.so was built against OpenVINO " + built_version() +
             " (another OpenVINO install comes first on the library path?)";
    }
    try {
      const auto devices = core().get_available_devices();
      if (std::find(devices.begin(), devices.end(), "CPU") == devices.end()) {
        return "OpenVINO " + runtime + " has no CPU device (libopenvino_intel_cpu_plugin.so missing?)";
      }
    } catch (const std::exception& e) {
      return std::string("OpenVINO could not start: ") + e.what();
    }
    return "";
  }();
  return problem.c_str();
}

__attribute__((visibility("default"))) Model* kprcnn_openvino_open(const Config& config, Status& status) {
  try {
    ov::AnyMap properties;
    const bool throughput = config.streams > 1;
    properties[ov::hint::performance_mode.name()] =
        throughput ? ov::hint::PerformanceMode::THROUGHPUT : ov::hint::PerformanceMode::LATENCY;
    if (throughput) properties[ov::num_streams.name()] = ov::streams::Num(config.streams);
    if (config.threads > 0) properties[ov::inference_num_threads.name()] = config.threads;
    properties[ov::hint::inference_precision.name()] = config.bf16 ? ov::element::bf16 : ov::element::f32;
    ov::CompiledModel compiled;
    if (config.blob) {
      ov::Tensor blob(ov::element::u8, ov::Shape{config.blob->size()},
                      const_cast<char*>(config.blob->data()));  // read, not written
      compiled = core().import_model(blob, "CPU", properties);
    } else {
      const std::shared_ptr<ov::Model> model = core().read_model(config.model.string());
      repair_empty_branch_outputs(model);
      repair_empty_model_outputs(model);
      compiled = core().compile_model(model, "CPU", properties);
    }
    std::string precision = "f32";
    try {
      precision = compiled.get_property(ov::hint::inference_precision).get_type_name();
    } catch (const std::exception&) {
    }
    int streams = config.streams, threads = config.threads;
    try {
      streams = compiled.get_property(ov::num_streams).num;
      threads = compiled.get_property(ov::inference_num_threads);
    } catch (const std::exception&) {
    }
    std::string version = runtime_version();  // "2026.4.1-22982-e213a147257-releases/2026/4": keep "2026.4.1-22982"
    if (const auto dash = version.find('-'); dash != std::string::npos)
      version = version.substr(0, version.find('-', dash + 1));
    std::string description = "openvino " + version + " CPU " + precision + " " +
                              (throughput ? "THROUGHPUT" : "LATENCY") + " streams=" + std::to_string(streams) +
                              " threads=" + std::to_string(threads);
    status = {};
    return new OpenVinoModel(std::move(compiled), std::move(description));
  } catch (const std::exception& e) {
    status = failure(config.blob ? kprcnn::ErrorCode::kIo : kprcnn::ErrorCode::kModelLoad,
                     std::string(config.blob ? "OpenVINO could not import the cached compiled model: "
                                             : "OpenVINO could not compile ") +
                         (config.blob ? "" : config.model.string() + ": ") + e.what());
    return nullptr;
  }
}

}  // extern "C"

// ONNX Runtime session: load, contract check, run. See session.h.
#define ORT_API_MANUAL_INIT
#include "ort/session.h"

#include <onnxruntime_cxx_api.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <sstream>
#include <system_error>

#include "kprcnn/error.h"
#include "ort/external_data.h"
#include "ort/model_cache.h"

namespace kprcnn::ort {
namespace {

// Binds the C++ wrapper to the loaded library once, with a clear error when the library is older than the
// headers we were built against (instead of the null-pointer crash of the automatic initialisation).
void ensure_api() {
  static std::once_flag once;
  static const OrtApi* api = nullptr;
  std::call_once(once, [] {
    const OrtApiBase* base = OrtGetApiBase();
    api = base ? base->GetApi(ORT_API_VERSION) : nullptr;
    if (api) Ort::InitApi(api);
  });
  if (!api) {
    const OrtApiBase* base = OrtGetApiBase();
    throw Error(ErrorCode::kModelLoad, std::string("the ONNX Runtime library (") +
                                           (base ? base->GetVersionString() : "unknown") +
                                           ") does not provide C API version " + std::to_string(ORT_API_VERSION) +
                                           " that kprcnn was built against; install ONNX Runtime >= 1." +
                                           std::to_string(ORT_API_VERSION) + " (scripts/fetch_onnxruntime.sh)");
  }
}

Ort::Env& env() {
  ensure_api();
  static Ort::Env instance(ORT_LOGGING_LEVEL_ERROR, "kprcnn");
  return instance;
}

GraphOptimizationLevel to_ort(GraphOptimization level) {
  switch (level) {
    case GraphOptimization::kDisabled: return ORT_DISABLE_ALL;
    case GraphOptimization::kBasic: return ORT_ENABLE_BASIC;
    case GraphOptimization::kExtended: return ORT_ENABLE_EXTENDED;
    case GraphOptimization::kAll: return ORT_ENABLE_ALL;
  }
  return ORT_ENABLE_ALL;
}

const char* type_name(ONNXTensorElementDataType type) {
  switch (type) {
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT: return "float32";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE: return "float64";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16: return "float16";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16: return "bfloat16";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64: return "int64";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32: return "int32";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16: return "int16";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8: return "int8";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8: return "uint8";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL: return "bool";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING: return "string";
    default: return "other";
  }
}

TensorInfo describe(const std::string& name, const Ort::TypeInfo& type) {
  TensorInfo info;
  info.name = name;
  if (type.GetONNXType() != ONNX_TYPE_TENSOR) {
    info.type = "non-tensor";
    return info;
  }
  auto tensor = type.GetTensorTypeAndShapeInfo();
  info.type = type_name(tensor.GetElementType());
  info.shape = tensor.GetShape();
  std::vector<const char*> symbolic(info.shape.size(), nullptr);
  if (!symbolic.empty()) tensor.GetSymbolicDimensions(symbolic.data(), symbolic.size());
  for (const char* s : symbolic) info.dims.emplace_back(s ? s : "");
  return info;
}

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
constexpr const char* kOutputNames[] = {"boxes", "labels", "scores", "keypoints", "keypoints_scores"};

bool matches(const TensorInfo& t, const Expected& e) {
  if (t.type != e.type || t.shape.size() != e.dims.size()) return false;
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

}  // namespace

struct Session::Impl {
  Ort::Session session{nullptr};
  ModelInfo info;
  Ort::MemoryInfo memory{nullptr};
  LoadReport report;
  std::filesystem::path profile_file;
};

namespace {

// Old entries beyond this many are evicted (least recently used first): a model is ~240 MB.
constexpr std::size_t kCacheEntries = 6;

Ort::SessionOptions session_options(const SessionConfig& config, GraphOptimizationLevel level) {
  Ort::SessionOptions options;
  options.SetIntraOpNumThreads(std::max(0, config.intra_op_threads));
  options.SetInterOpNumThreads(std::max(0, config.inter_op_threads));
  options.SetExecutionMode(ExecutionMode::ORT_SEQUENTIAL);
  options.SetGraphOptimizationLevel(level);
  const char* spin = config.allow_spinning ? "1" : "0";
  options.AddConfigEntry("session.intra_op.allow_spinning", spin);
  options.AddConfigEntry("session.inter_op.allow_spinning", spin);
  if (!config.cpu_arena) options.DisableCpuMemArena();
  if (!config.memory_pattern) options.DisableMemPattern();
  if (!config.profile_file.empty()) options.EnableProfiling((config.profile_file.string() + ".ort").c_str());
  return options;
}

// A unique temporary name in the cache folder (renamed over the entry once ONNX Runtime has written it).
std::filesystem::path temp_entry(const std::filesystem::path& entry) {
  static std::atomic<unsigned> counter{0};
  const auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
  return entry.parent_path() / (".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(stamp) + "-" +
                                std::to_string(counter++) + "-" + entry.filename().string());
}

// Loads through the optimised-model cache: the saved graph when there is one (no optimisation pass: it is already
// optimised), else the model with `config.optimization`, saving the result. Returns false (with a note in the
// report) when the cache cannot be used, so that the caller loads the model directly.
bool load_cached(Ort::Env& env, const std::filesystem::path& model, const SessionConfig& config, Ort::Session& out,
                 LoadReport& report) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path entry;
  try {
    entry = cache_entry(config.cache_dir, model, Ort::GetVersionString(), static_cast<int>(config.optimization));
  } catch (const Error& e) {
    report.cache_note = e.what();
    return false;
  }
  report.cache_file = entry;
  if (fs::is_regular_file(entry, ec)) {
    try {
      out = Ort::Session(env, entry.c_str(), session_options(config, ORT_DISABLE_ALL));
      report.cache_hit = true;
      touch_entry(entry);
      return true;
    } catch (const Ort::Exception& e) {
      fs::remove(entry, ec);  // damaged (disk full while writing it, ...): rebuilt below
      report.cache_note = std::string("cache entry unreadable, rebuilt: ") + e.what();
    }
  }
  fs::create_directories(config.cache_dir, ec);
  fs::permissions(config.cache_dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  if (!fs::is_directory(config.cache_dir)) {
    report.cache_note = "cannot create cache folder " + config.cache_dir.string();
    report.cache_file.clear();
    return false;
  }
  const fs::path temp = temp_entry(entry);
  Ort::SessionOptions options = session_options(config, to_ort(config.optimization));
  options.SetOptimizedModelFilePath(temp.c_str());
  try {
    out = Ort::Session(env, model.c_str(), options);
  } catch (const Ort::Exception& e) {
    fs::remove(temp, ec);
    report.cache_note = std::string("not cached: ") + e.what();
    report.cache_file.clear();
    return false;  // the direct load reports the error if the model itself is bad
  }
  fs::rename(temp, entry, ec);
  if (ec) {
    fs::remove(temp, ec);
    report.cache_note = "cannot write cache entry " + entry.string() + ": " + ec.message();
    report.cache_file.clear();
  }
  evict_entries(config.cache_dir, kCacheEntries);
  return true;
}

}  // namespace

Session::Session(const std::filesystem::path& model, const SessionConfig& config) {
  // Bind the API before any Ort object exists: even an empty wrapper calls into it when destroyed.
  Ort::Env& environment = env();
  const auto started = std::chrono::steady_clock::now();
  impl_ = std::make_unique<Impl>();
  std::error_code ec;
  if (!std::filesystem::exists(model, ec)) {
    throw Error(ErrorCode::kIo, "model file not found: " + model.string());
  }
  if (std::filesystem::is_directory(model, ec)) {
    throw Error(ErrorCode::kIo, "model path is a folder, expected an .onnx file: " + model.string());
  }
  check_external_data(model);
  impl_->profile_file = config.profile_file;
  try {
    const bool cached = !config.cache_dir.empty() && config.optimization != GraphOptimization::kDisabled &&
                        load_cached(environment, model, config, impl_->session, impl_->report);
    if (!cached) {
      impl_->session = Ort::Session(environment, model.c_str(), session_options(config, to_ort(config.optimization)));
    }
  } catch (const Ort::Exception& e) {
    throw Error(ErrorCode::kModelLoad, "cannot load model " + model.string() + ": " + e.what() +
                                           "\n  The file is not a valid ONNX model (corrupt, truncated, or its "
                                           "external data is missing); re-export it with `kprcnn export`.");
  }
  impl_->memory = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);

  ModelInfo& info = impl_->info;
  info.path = model;
  Ort::AllocatorWithDefaultOptions allocator;
  Ort::Session& s = impl_->session;
  for (std::size_t i = 0; i < s.GetInputCount(); ++i) {
    info.inputs.push_back(describe(s.GetInputNameAllocated(i, allocator).get(), s.GetInputTypeInfo(i)));
  }
  for (std::size_t i = 0; i < s.GetOutputCount(); ++i) {
    info.outputs.push_back(describe(s.GetOutputNameAllocated(i, allocator).get(), s.GetOutputTypeInfo(i)));
  }
  Ort::ModelMetadata meta = s.GetModelMetadata();
  info.producer = meta.GetProducerNameAllocated(allocator).get();
  info.graph_name = meta.GetGraphNameAllocated(allocator).get();
  for (const auto& key : meta.GetCustomMetadataMapKeysAllocated(allocator)) {
    info.metadata[key.get()] = meta.LookupCustomMetadataMapAllocated(key.get(), allocator).get();
  }
  try {
    check_contract(info);
  } catch (const Error&) {
    if (!impl_->report.cache_file.empty()) std::filesystem::remove(impl_->report.cache_file, ec);  // not ours
    throw;
  }
  for (const auto& t : info.outputs) {
    if (t.name == "keypoints" && t.shape[1] > 0) info.num_keypoints = static_cast<int>(t.shape[1]);
  }
  impl_->report.load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
}

Session::~Session() {
  if (!impl_ || impl_->profile_file.empty() || !impl_->session) return;
  try {  // ONNX Runtime names the file <prefix>_<date>.json; move it to the requested name
    Ort::AllocatorWithDefaultOptions allocator;
    const std::string written = impl_->session.EndProfilingAllocated(allocator).get();
    std::error_code ec;
    std::filesystem::rename(written, impl_->profile_file, ec);
  } catch (...) {
  }
}

const ModelInfo& Session::info() const noexcept {
  return impl_->info;
}

const LoadReport& Session::load_report() const noexcept {
  return impl_->report;
}

namespace {

template <typename T>
void copy_out(const Ort::Value& value, std::size_t expected, std::vector<T>& out, const char* name) {
  auto info = value.GetTensorTypeAndShapeInfo();
  if (info.GetElementCount() != expected) {
    throw Error(ErrorCode::kInference, std::string("model output '") + name + "' has " +
                                           std::to_string(info.GetElementCount()) + " values, expected " +
                                           std::to_string(expected));
  }
  out.resize(expected);
  if (expected) std::copy_n(value.GetTensorData<T>(), expected, out.data());
}

}  // namespace

Outputs Session::run(std::span<const float> chw, int height, int width) const {
  if (height <= 0 || width <= 0 || chw.size() != static_cast<std::size_t>(3) * height * width) {
    throw Error(ErrorCode::kInternal,
                "input tensor size does not match 3 x " + std::to_string(height) + " x " + std::to_string(width));
  }
  const std::int64_t shape[] = {1, 3, height, width};
  const char* input_names[] = {"input"};
  std::vector<Ort::Value> values;
  try {
    // ONNX Runtime does not write to inputs; the C API takes a non-const pointer.
    Ort::Value input =
        Ort::Value::CreateTensor<float>(impl_->memory, const_cast<float*>(chw.data()), chw.size(), shape, 4);
    values = impl_->session.Run(Ort::RunOptions{nullptr}, input_names, &input, 1, kOutputNames, 5);
  } catch (const Ort::Exception& e) {
    throw Error(ErrorCode::kInference, std::string("ONNX Runtime failed to run the model: ") + e.what());
  }
  if (values.size() != 5) throw Error(ErrorCode::kInference, "model returned an unexpected number of outputs");
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!values[i].IsTensor()) {
      throw Error(ErrorCode::kInference, std::string("model output '") + kOutputNames[i] + "' is not a tensor");
    }
  }
  Outputs out;
  const auto box_shape = values[0].GetTensorTypeAndShapeInfo().GetShape();
  const auto kp_shape = values[3].GetTensorTypeAndShapeInfo().GetShape();
  if (box_shape.size() != 2 || kp_shape.size() != 3 || box_shape[0] < 0 || kp_shape[1] < 0) {
    throw Error(ErrorCode::kInference, "model outputs have unexpected ranks");
  }
  out.n = static_cast<std::size_t>(box_shape[0]);
  out.k = static_cast<std::size_t>(kp_shape[1]);
  copy_out(values[0], out.n * 4, out.boxes, "boxes");
  copy_out(values[1], out.n, out.labels, "labels");
  copy_out(values[2], out.n, out.scores, "scores");
  copy_out(values[3], out.n * out.k * 3, out.keypoints, "keypoints");
  copy_out(values[4], out.n * out.k, out.keypoint_scores, "keypoints_scores");
  return out;
}

std::string version() {
  ensure_api();
  return Ort::GetVersionString();
}

std::vector<std::string> providers() {
  ensure_api();
  return Ort::GetAvailableProviders();
}

}  // namespace kprcnn::ort

namespace kprcnn {

std::string to_string(const TensorInfo& t) {
  std::ostringstream out;
  out << t.type << " [";
  for (std::size_t i = 0; i < t.shape.size(); ++i) {
    if (i) out << ", ";
    if (t.shape[i] >= 0) {
      out << t.shape[i];
    } else {
      out << (i < t.dims.size() && !t.dims[i].empty() ? t.dims[i] : "?");
    }
  }
  out << "]";
  return out.str();
}

}  // namespace kprcnn

// The ONNX Runtime engine: session options, execution providers, the optimised-model cache, run. See engine.h.
#define ORT_API_MANUAL_INIT
#include "ort/session.h"

#include <onnxruntime_cxx_api.h>

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <sstream>
#include <system_error>

#include "atomic_file.h"
#include "cache/model_cache.h"
#include "cancel.h"
#include "engine.h"
#include "kprcnn/error.h"

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
  // FATAL only: ONNX Runtime logs its errors before it throws them, and kprcnn reports each one once (with what to do).
  static Ort::Env instance(ORT_LOGGING_LEVEL_FATAL, "kprcnn");
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

constexpr const char* kOutputNames[] = {"boxes", "labels", "scores", "keypoints", "keypoints_scores"};

}  // namespace

namespace {

struct SessionConfig {
  int intra_op_threads = 0;
  int inter_op_threads = 1;
  GraphOptimization optimization = GraphOptimization::kAll;
  Provider provider = Provider::kCpu;
  bool allow_spinning = false;         // session.intra_op.allow_spinning / inter_op
  bool cpu_arena = true;               // ONNX Runtime's CPU memory arena
  bool memory_pattern = false;         // ONNX Runtime's memory pattern planning
  std::filesystem::path cache_dir;     // optimised-model cache (cache/model_cache.h); empty: none
  std::filesystem::path profile_file;  // ONNX Runtime profile JSON, written when the session ends; empty: none
};

const char* provider_name(Provider provider) {
  switch (provider) {
    case Provider::kCpu: return "CPUExecutionProvider";
    case Provider::kCuda: return "CUDAExecutionProvider";
    case Provider::kTensorRt: return "TensorrtExecutionProvider";
  }
  return "?";
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// Why ONNX Runtime could not load a provider library: dlopen's own message for it (the first missing NVIDIA library,
// "libcublasLt.so.12: cannot open shared object file"), looked up beside libonnxruntime as ONNX Runtime does.
std::string provider_library_problem(const char* file) {
  Dl_info info{};
  if (!dladdr(reinterpret_cast<void*>(&OrtGetApiBase), &info) || !info.dli_fname) return "";
  const std::string path = (std::filesystem::path(info.dli_fname).parent_path() / file).string();
  void* handle = ::dlopen(path.c_str(), RTLD_LAZY | RTLD_LOCAL);
  if (handle) {
    ::dlclose(handle);
    return "";
  }
  const char* error = ::dlerror();
  return error ? error : "";
}

// Adds the GPU execution provider(s) to `options`; kEngineUnavailable naming what is missing: the provider in this
// ONNX Runtime build, or (ONNX Runtime loads the provider library here) the CUDA/cuDNN/TensorRT libraries or the
// driver. TensorRT falls back to CUDA, then the CPU, for the operators it does not take (ONNX Runtime's order).
void append_provider(Ort::SessionOptions& options, Provider provider) {
  if (provider == Provider::kCpu) return;
  const std::vector<std::string> available = Ort::GetAvailableProviders();
  const char* name = provider_name(provider);
  const bool has_cuda = std::find(available.begin(), available.end(), "CUDAExecutionProvider") != available.end();
  if (std::find(available.begin(), available.end(), name) == available.end()) {
    throw Error(ErrorCode::kEngineUnavailable,
                std::string("this ONNX Runtime (") + Ort::GetVersionString() + ", providers: " + joined(available) +
                    ") has no " + name +
                    ".\n  Use ONNX Runtime's GPU build: scripts/fetch_onnxruntime.sh --gpu, then configure kprcnn "
                    "with -DONNXRUNTIME_ROOT=build/third-party/onnxruntime-gpu (README, Engines); or --provider cpu.");
  }
  // The driver first: without libcuda.so.1, ONNX Runtime 1.22's CUDA provider library crashes in its own start-up
  // code when loaded (measured: SIGSEGV inside dlopen on a machine with the CUDA wheels but no GPU), so it is never
  // loaded then.
  if (void* driver = ::dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL)) {
    ::dlclose(driver);
  } else {
    const char* why = ::dlerror();
    throw Error(ErrorCode::kEngineUnavailable,
                std::string("no NVIDIA driver on this machine (") + (why ? why : "libcuda.so.1 not found") +
                    "): " + name + " needs an NVIDIA GPU and its driver. Use --provider cpu (README, Engines).");
  }
  const OrtApi& api = Ort::GetApi();
  try {
    if (provider == Provider::kTensorRt) {
      OrtTensorRTProviderOptionsV2* trt = nullptr;
      Ort::ThrowOnError(api.CreateTensorRTProviderOptions(&trt));
      std::unique_ptr<OrtTensorRTProviderOptionsV2, decltype(api.ReleaseTensorRTProviderOptions)> owned(
          trt, api.ReleaseTensorRTProviderOptions);
      options.AppendExecutionProvider_TensorRT_V2(*trt);
    }
    if (has_cuda) {
      OrtCUDAProviderOptionsV2* cuda = nullptr;
      Ort::ThrowOnError(api.CreateCUDAProviderOptions(&cuda));
      std::unique_ptr<OrtCUDAProviderOptionsV2, decltype(api.ReleaseCUDAProviderOptions)> owned(
          cuda, api.ReleaseCUDAProviderOptions);
      options.AppendExecutionProvider_CUDA_V2(*cuda);
    }
  } catch (const Ort::Exception& e) {
    const std::string missing = provider_library_problem(
        provider == Provider::kTensorRt ? "libonnxruntime_providers_tensorrt.so" : "libonnxruntime_providers_cuda.so");
    throw Error(ErrorCode::kEngineUnavailable,
                std::string("ONNX Runtime could not start its ") + name + ": " + e.what() +
                    (missing.empty() ? "" : " (" + missing + ")") +
                    "\n  It needs an NVIDIA GPU with its driver (libcuda.so.1) and the CUDA 12 and cuDNN 9 libraries" +
                    (provider == Provider::kTensorRt ? " and TensorRT 10" : "") +
                    " on the library path (NVIDIA's wheels: nvidia-cuda-runtime-cu12, nvidia-cudnn-cu12, ...; "
                    "README, Engines); or --provider cpu.");
  }
}

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
  append_provider(options, config.provider);
  return options;
}

// Loads through the optimised-model cache: the saved graph when there is one (no optimisation pass: it is already
// optimised), else the model with `config.optimization`, saving the result. Returns false (with a note in the
// report) when the cache cannot be used, so that the caller loads the model directly.
bool load_cached(Ort::Env& env, const std::filesystem::path& model, const SessionConfig& config, Ort::Session& out,
                 engine::Loaded& report) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path entry;
  try {
    entry = cache::cache_entry(config.cache_dir, model, Ort::GetVersionString(), static_cast<int>(config.optimization));
  } catch (const Error& e) {
    report.cache_note = e.what();
    return false;
  }
  report.cache_file = entry;
  if (fs::is_regular_file(entry, ec)) {
    try {
      out = Ort::Session(env, entry.c_str(), session_options(config, ORT_DISABLE_ALL));
      report.cache_hit = true;
      cache::touch_entry(entry);
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
  try {
    // ONNX Runtime writes the optimised graph to the temporary by name while it loads; renamed when complete.
    detail::AtomicFile file(entry, detail::AtomicFile::Durability::kCache);
    Ort::SessionOptions options = session_options(config, to_ort(config.optimization));
    options.SetOptimizedModelFilePath(file.temp_path().c_str());
    try {
      out = Ort::Session(env, model.c_str(), options);
    } catch (const Ort::Exception& e) {
      report.cache_note = std::string("not cached: ") + e.what();
      report.cache_file.clear();
      return false;  // the direct load reports the error if the model itself is bad
    }
    file.commit();
  } catch (const Error& e) {  // the temporary could not be created or renamed: the session (if any) still runs
    report.cache_note = std::string("not cached: ") + e.what();
    report.cache_file.clear();
    if (!out) return false;
  }
  cache::evict_entries(config.cache_dir, kCacheEntries);
  return true;
}

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

class OrtEngine final : public engine::Engine {
 public:
  OrtEngine(const std::filesystem::path& model, const SessionConfig& config);
  ~OrtEngine() override;
  const ModelInfo& info() const noexcept override { return info_; }
  const engine::Loaded& loaded() const noexcept override { return loaded_; }
  engine::Outputs run(std::span<const float> chw, int height, int width, CancelToken::State* cancel) const override;

 private:
  mutable Ort::Session session_{nullptr};  // Run is thread-safe; the C++ wrapper declares it non-const
  ModelInfo info_;
  Ort::MemoryInfo memory_{nullptr};
  engine::Loaded loaded_;
  std::filesystem::path profile_file_;
};

OrtEngine::OrtEngine(const std::filesystem::path& model, const SessionConfig& config) {
  // Bind the API before any Ort object exists: even an empty wrapper calls into it when destroyed.
  Ort::Env& environment = env();
  const auto started = std::chrono::steady_clock::now();
  engine::check_model_file(model);
  profile_file_ = config.profile_file;
  // The optimised-model cache is for the CPU provider: a graph optimised for a GPU provider is not saved.
  const bool use_cache = !config.cache_dir.empty() && config.optimization != GraphOptimization::kDisabled &&
                         config.provider == Provider::kCpu;
  try {
    const bool cached = use_cache && load_cached(environment, model, config, session_, loaded_);
    if (!cached) {
      session_ = Ort::Session(environment, model.c_str(), session_options(config, to_ort(config.optimization)));
    }
  } catch (const Ort::Exception& e) {
    throw Error(ErrorCode::kModelLoad, "cannot load model " + model.string() + ": " + e.what() +
                                           "\n  The file is not a valid ONNX model (corrupt, truncated, or its "
                                           "external data is missing); re-export it with `kprcnn export`.");
  }
  memory_ = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);

  ModelInfo& info = info_;
  info.path = model;
  Ort::AllocatorWithDefaultOptions allocator;
  Ort::Session& s = session_;
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
    engine::check_contract(info);
  } catch (const Error&) {
    std::error_code ec;
    if (!loaded_.cache_file.empty()) std::filesystem::remove(loaded_.cache_file, ec);  // not ours
    throw;
  }
  for (const auto& t : info.outputs) {
    if (t.name == "keypoints" && t.shape[1] > 0) info.num_keypoints = static_cast<int>(t.shape[1]);
  }
  loaded_.description = std::string("onnxruntime ") + Ort::GetVersionString() + " " + provider_name(config.provider);
  loaded_.load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
}

OrtEngine::~OrtEngine() {
  if (profile_file_.empty() || !session_) return;
  try {  // ONNX Runtime names the file <prefix>_<date>.json; move it to the requested name
    Ort::AllocatorWithDefaultOptions allocator;
    const std::string written = session_.EndProfilingAllocated(allocator).get();
    std::error_code ec;
    std::filesystem::rename(written, profile_file_, ec);
  } catch (...) {
  }
}

engine::Outputs OrtEngine::run(std::span<const float> chw, int height, int width, CancelToken::State* cancel) const {
  if (height <= 0 || width <= 0 || chw.size() != static_cast<std::size_t>(3) * height * width) {
    throw Error(ErrorCode::kInternal,
                "input tensor size does not match 3 x " + std::to_string(height) + " x " + std::to_string(width));
  }
  const std::int64_t shape[] = {1, 3, height, width};
  const char* input_names[] = {"input"};
  std::vector<Ort::Value> values;
  // A run's own options: SetTerminate on them stops this run only (ONNX Runtime checks the flag between operators).
  Ort::RunOptions run_options;
  {
    CancelScope scope(cancel, [&run_options] { run_options.SetTerminate(); });
    try {
      // ONNX Runtime does not write to inputs; the C API takes a non-const pointer.
      Ort::Value input = Ort::Value::CreateTensor<float>(memory_, const_cast<float*>(chw.data()), chw.size(), shape, 4);
      values = session_.Run(run_options, input_names, &input, 1, kOutputNames, 5);
    } catch (const Ort::Exception& e) {
      if (scope.cancelled()) throw CancelScope::cancelled_error();
      throw Error(ErrorCode::kInference, std::string("ONNX Runtime failed to run the model: ") + e.what());
    }
    // Cancelled after the last operator: the outputs are complete, but the caller asked for no result.
    if (scope.cancelled()) throw CancelScope::cancelled_error();
  }
  if (values.size() != 5) throw Error(ErrorCode::kInference, "model returned an unexpected number of outputs");
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!values[i].IsTensor()) {
      throw Error(ErrorCode::kInference, std::string("model output '") + kOutputNames[i] + "' is not a tensor");
    }
  }
  engine::Outputs out;
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

}  // namespace

std::string version() {
  ensure_api();
  return Ort::GetVersionString();
}

std::vector<std::string> providers() {
  ensure_api();
  return Ort::GetAvailableProviders();
}

}  // namespace kprcnn::ort

namespace kprcnn::engine {

std::unique_ptr<Engine> open_onnxruntime(const std::filesystem::path& model, const DetectorOptions& options) {
  ort::SessionConfig config;
  config.intra_op_threads = options.intra_op_threads;
  config.inter_op_threads = options.inter_op_threads;
  config.optimization = options.optimization;
  config.provider = options.provider;
  config.allow_spinning = options.allow_spinning;
  config.cpu_arena = options.cpu_memory_arena;
  config.memory_pattern = options.memory_pattern;
  config.cache_dir = options.model_cache_dir;
  config.profile_file = options.profile_file;
  return std::make_unique<ort::OrtEngine>(model, config);
}

}  // namespace kprcnn::engine

namespace kprcnn {

std::string to_string(const TensorInfo& t) {
  std::ostringstream out;
  if (t.dynamic_rank) return t.type + " [...]";
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

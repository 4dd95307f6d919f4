// The boundary between the kprcnn library (src/engine_openvino.cpp, which loads the plugin with dlopen) and the
// OpenVINO plugin libkprcnn_openvino.so (src/openvino/plugin.cpp, the only file that includes OpenVINO headers).
//
// Why a plugin: OpenVINO is ~160 MB of libraries. Linked into kprcnn directly, a machine without them could not
// start `kprcnn` at all (the dynamic loader refuses before main), not even with --engine ort; loaded at run time,
// its absence is a kEngineUnavailable error that says what is missing, and only for the runs that need it.
//
// Both sides are built together, from one tree, by one compiler: C++ types cross the boundary, exceptions do not
// (every failure comes back as a Status). The loader refuses a plugin whose kAbi or kprcnn version differs.
#pragma once

#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "cancel.h"
#include "engine.h"
#include "kprcnn/detector.h"
#include "kprcnn/error.h"

namespace kprcnn::openvino_plugin {

inline constexpr int kAbi = 2;  // 2: Model::run takes the CancelToken state

struct Status {
  bool ok = true;
  ErrorCode code = ErrorCode::kInternal;  // when !ok
  std::string message;
};

struct Config {
  std::filesystem::path model;
  // A compiled model exported earlier (the cache entry, checksum already verified): imported instead of compiling
  // the ONNX file. nullptr: compile. The model may keep reading it (zero-copy weights): it must outlive the Model.
  const std::string* blob = nullptr;
  int threads = 0;    // total inference threads (0: OpenVINO's default, one per physical core)
  int streams = 1;    // parallel streams: 1 with the LATENCY hint; > 1 with THROUGHPUT
  bool bf16 = false;  // inference precision: f32 (exact) unless this is set
};

class Model {
 public:
  virtual ~Model() = default;
  virtual void describe(std::vector<TensorInfo>& inputs, std::vector<TensorInfo>& outputs) const = 0;
  // Thread-safe: each concurrent call takes its own infer request from a pool. `cancel` (may be null; src/cancel.h)
  // is armed with the request's cancel(); a cancelled run returns code kCancelled.
  virtual Status run(std::span<const float> chw, int height, int width, engine::Outputs& out,
                     CancelToken::State* cancel) const = 0;
  // The compiled model, for the cache.
  virtual Status export_blob(std::string& out) const = 0;
  // "openvino 2026.4.1-... CPU f32 LATENCY streams=1 threads=2"
  virtual std::string description() const = 0;
};

// The plugin's exported functions (extern "C", looked up by name).
using AbiFn = int (*)();
using VersionFn = const char* (*)();  // "kprcnn <version>; OpenVINO <runtime version>" or an error text
using OpenFn = Model* (*)(const Config& config, Status& status);

inline constexpr const char* kAbiSymbol = "kprcnn_openvino_abi";
inline constexpr const char* kKprcnnVersionSymbol = "kprcnn_openvino_kprcnn_version";
inline constexpr const char* kRuntimeSymbol = "kprcnn_openvino_runtime";  // VersionFn: "" when the runtime is usable
inline constexpr const char* kVersionSymbol = "kprcnn_openvino_version";  // VersionFn: the runtime's version
inline constexpr const char* kOpenSymbol = "kprcnn_openvino_open";

}  // namespace kprcnn::openvino_plugin

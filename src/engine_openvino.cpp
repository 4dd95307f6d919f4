// The OpenVINO engine, library side: finds and loads libkprcnn_openvino.so (src/openvino/plugin_api.h explains
// why it is a plugin), checks that it matches this build, and keeps OpenVINO's compiled models in kprcnn's model
// cache. No OpenVINO header here.
//
// Plugin search: $KPRCNN_OPENVINO_PLUGIN (a file) when set, else beside the binary that contains this code, then
// in its lib folder: the install's libdir relative to its bindir, and ../lib (the build tree and an install put
// bin/kprcnn and lib/libkprcnn_openvino.so so), then beside the loaded libonnxruntime.so (an installed tree has
// both in lib/: what an application linking the installed static library from elsewhere relies on).
//
// Cache entries: <cache>/<stem>-<key>.ovblob = OpenVINO's exported compiled model + a 32-byte trailer
//   "KPRCNNOV" | u64 blob size | u64 XXH64(blob) | "trailer1"
// The key covers the model's content, the OpenVINO version, the CPU, the precision, streams and threads
// (cache/model_cache.h). An entry whose trailer or checksum does not match (a torn write, a damaged disk, another
// program's file) is deleted and rebuilt, never imported; one that OpenVINO refuses to import is rebuilt too.
#include <dlfcn.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <system_error>

#include "atomic_file.h"
#include "cache/model_cache.h"
#include "engine.h"
#include "kprcnn/error.h"
#include "kprcnn/model_tools.h"
#include "kprcnn/version.h"
#include "openvino/plugin_api.h"

namespace kprcnn::engine {
namespace fs = std::filesystem;
namespace plugin = openvino_plugin;
namespace {

constexpr const char* kPluginFile = "libkprcnn_openvino.so";
constexpr std::size_t kCacheEntries = 6;
constexpr char kMagic[9] = "KPRCNNOV";
constexpr char kTrailerTag[9] = "trailer1";
constexpr std::size_t kTrailer = 32;

struct Plugin {
  plugin::OpenFn open = nullptr;
  std::string version;      // OpenVINO's
  std::string unavailable;  // why not, or ""
};

fs::path this_binary_dir() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&this_binary_dir), &info) && info.dli_fname && info.dli_fname[0]) {
    std::error_code ec;
    const fs::path self = fs::canonical(info.dli_fname, ec);
    if (!ec) return self.parent_path();
  }
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : exe.parent_path();
}

// The folder of the loaded libonnxruntime.so (found by its C entry point; no ONNX Runtime header here), or "".
fs::path ort_library_dir() {
  void* symbol = ::dlsym(RTLD_DEFAULT, "OrtGetApiBase");
  Dl_info info{};
  if (!symbol || !dladdr(symbol, &info) || !info.dli_fname || !info.dli_fname[0]) return {};
  std::error_code ec;
  const fs::path lib = fs::canonical(info.dli_fname, ec);
  return ec ? fs::path() : lib.parent_path();
}

Plugin load_plugin() {
  Plugin p;
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("KPRCNN_OPENVINO_PLUGIN"); env && env[0]) {
    candidates.emplace_back(env);
  } else {
    const fs::path dir = this_binary_dir();
    candidates = {dir / kPluginFile, (dir / KPRCNN_LIB_FROM_BIN / kPluginFile).lexically_normal()};
    if (candidates[1] != dir.parent_path() / "lib" / kPluginFile)
      candidates.push_back(dir.parent_path() / "lib" / kPluginFile);
    // An installed kprcnn keeps libonnxruntime.so and the plugin side by side in its lib folder, so a program that
    // links the installed static library from anywhere else finds the plugin beside the ONNX Runtime it loaded.
    if (const fs::path ort = ort_library_dir(); !ort.empty() && ort != dir) candidates.push_back(ort / kPluginFile);
  }
  void* handle = nullptr;
  fs::path found;
  std::string errors;
  for (const fs::path& c : candidates) {
    std::error_code ec;
    if (!fs::is_regular_file(c, ec)) continue;
    handle = ::dlopen(c.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle) {
      found = c;
      break;
    }
    const char* e = ::dlerror();
    errors += std::string(errors.empty() ? "" : "; ") + (e ? e : c.string());
  }
  if (!handle) {
#ifndef KPRCNN_WITH_OPENVINO
    if (errors.empty() && !std::getenv("KPRCNN_OPENVINO_PLUGIN")) {
      p.unavailable = "this kprcnn was built without OpenVINO (configured with -DKPRCNN_OPENVINO=OFF)";
      return p;
    }
#endif
    std::string where;
    for (const auto& c : candidates) where += (where.empty() ? "" : ", ") + c.string();
    p.unavailable =
        errors.empty()
            ? kPluginFile + std::string(" not found (looked at ") + where + "; set KPRCNN_OPENVINO_PLUGIN to its path)"
            : "cannot load the OpenVINO plugin: " + errors +
                  " (the OpenVINO libraries it needs: scripts/fetch_openvino.sh, README Engines)";
    return p;
  }
  auto symbol = [&](const char* name) { return ::dlsym(handle, name); };
  auto abi = reinterpret_cast<plugin::AbiFn>(symbol(plugin::kAbiSymbol));
  auto kprcnn_version = reinterpret_cast<plugin::VersionFn>(symbol(plugin::kKprcnnVersionSymbol));
  auto runtime = reinterpret_cast<plugin::VersionFn>(symbol(plugin::kRuntimeSymbol));
  auto version = reinterpret_cast<plugin::VersionFn>(symbol(plugin::kVersionSymbol));
  auto open = reinterpret_cast<plugin::OpenFn>(symbol(plugin::kOpenSymbol));
  if (!abi || !kprcnn_version || !runtime || !version || !open) {
    p.unavailable = found.string() + " is not a kprcnn OpenVINO plugin (missing symbols)";
  } else if (abi() != plugin::kAbi || std::strcmp(kprcnn_version(), KPRCNN_VERSION_STRING) != 0) {
    p.unavailable = found.string() + " belongs to kprcnn " + kprcnn_version() + " (plugin ABI " +
                    std::to_string(abi()) + "), this is kprcnn " + KPRCNN_VERSION_STRING + " (ABI " +
                    std::to_string(plugin::kAbi) + "): install the plugin built with this kprcnn";
  } else if (const std::string problem = runtime(); !problem.empty()) {
    p.unavailable = problem;
  } else {
    p.open = open;
    p.version = version();
    return p;  // the handle stays open for the process's life (OpenVINO's threads live in it)
  }
  ::dlclose(handle);
  return p;
}

const Plugin& the_plugin() {
  static const Plugin p = load_plugin();
  return p;
}

void put64(std::string& s, std::uint64_t v) {
  char b[8];
  std::memcpy(b, &v, 8);
  s.append(b, 8);
}
std::uint64_t get64(const char* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
std::uint64_t hash(const std::string& blob, std::size_t size) {
  return cache::xxh64({reinterpret_cast<const std::uint8_t*>(blob.data()), size});
}

// True, with the entry's blob, when the file is complete and its checksum matches; else false, with a note saying
// why when the file exists.
bool read_entry(const fs::path& entry, std::string& blob, std::string& note) {
  std::ifstream in(entry, std::ios::binary);
  if (!in) return false;
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < static_cast<std::streamoff>(kTrailer)) {
    note = "cache entry truncated, rebuilt";
    return false;
  }
  in.seekg(0);
  blob.resize(static_cast<std::size_t>(size));
  in.read(blob.data(), size);
  if (!in) {
    note = "cache entry unreadable, rebuilt";
    return false;
  }
  const std::size_t body = blob.size() - kTrailer;
  const char* t = blob.data() + body;
  if (std::memcmp(t, kMagic, 8) != 0 || std::memcmp(t + 24, kTrailerTag, 8) != 0 || get64(t + 8) != body ||
      get64(t + 16) != hash(blob, body)) {
    note = "cache entry damaged (checksum mismatch), rebuilt";
    return false;
  }
  blob.resize(body);
  return true;
}

void write_entry(const fs::path& entry, std::string& blob, std::string& note) {
  const std::size_t body = blob.size();
  const std::uint64_t h = hash(blob, body);
  blob.append(kMagic, 8);
  put64(blob, body);
  put64(blob, h);
  blob.append(kTrailerTag, 8);
  std::error_code ec;
  fs::create_directories(entry.parent_path(), ec);
  try {
    detail::AtomicFile out(entry, detail::AtomicFile::Durability::kCache);
    out.write(blob);
    out.commit();
  } catch (const Error& e) {
    note = std::string("not cached: ") + e.what();  // best effort: the next start compiles again
  }
  blob.resize(body);
}

class OpenVinoEngine final : public Engine {
 public:
  OpenVinoEngine(std::string blob, std::unique_ptr<plugin::Model> model, ModelInfo info, Loaded loaded)
      : blob_(std::move(blob)), model_(std::move(model)), info_(std::move(info)), loaded_(std::move(loaded)) {}
  const ModelInfo& info() const noexcept override { return info_; }
  const Loaded& loaded() const noexcept override { return loaded_; }
  Outputs run(std::span<const float> chw, int height, int width, CancelToken::State* cancel) const override {
    if (height <= 0 || width <= 0 || chw.size() != static_cast<std::size_t>(3) * height * width) {
      throw Error(ErrorCode::kInternal,
                  "input tensor size does not match 3 x " + std::to_string(height) + " x " + std::to_string(width));
    }
    Outputs out;
    const plugin::Status s = model_->run(chw, height, width, out, cancel);
    if (!s.ok) throw Error(s.code, s.message);
    return out;
  }

 private:
  // An imported model reads its weights from the blob in place (OpenVINO's zero-copy import): the blob outlives it.
  std::string blob_;
  std::unique_ptr<plugin::Model> model_;
  ModelInfo info_;
  Loaded loaded_;
};

}  // namespace

std::string openvino_unavailable_reason() {
  return the_plugin().unavailable;
}

std::string openvino_version() {
  return the_plugin().version;
}

std::unique_ptr<Engine> open_openvino(const fs::path& model, const DetectorOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  const Plugin& p = the_plugin();
  if (!p.open) {
    throw Error(ErrorCode::kEngineUnavailable, "OpenVINO is unavailable: " + p.unavailable +
                                                   "\n  Use --engine ort, or " + "install OpenVINO (README, Engines).");
  }
  check_model_file(model);
  plugin::Config config;
  config.model = model;
  config.streams = options.concurrent_runs;
  config.threads = options.intra_op_threads > 0 ? options.intra_op_threads * options.concurrent_runs : 0;
  config.bf16 = options.precision == Precision::kBf16;

  Loaded loaded;
  std::string blob;
  fs::path entry;
  if (!options.model_cache_dir.empty()) {
    // "repair-3": the graph repairs in plugin.cpp (bump when it changes: entries compiled before are then not used).
    const std::string key = "openvino " + p.version + " repair-3" + (config.bf16 ? " bf16" : " f32") +
                            " streams=" + std::to_string(config.streams) + " threads=" + std::to_string(config.threads);
    try {
      entry = cache::cache_entry(options.model_cache_dir, model, key, 0, ".ovblob");
    } catch (const Error& e) {
      loaded.cache_note = e.what();
    }
  }
  std::unique_ptr<plugin::Model> compiled;
  plugin::Status status;
  if (!entry.empty() && read_entry(entry, blob, loaded.cache_note)) {
    config.blob = &blob;
    compiled.reset(p.open(config, status));
    config.blob = nullptr;
    if (compiled) {
      loaded.cache_hit = true;
      loaded.cache_file = entry;
      cache::touch_entry(entry);
    } else {
      loaded.cache_note = status.message + "; rebuilt";
    }
  }
  std::error_code ec;
  if (!compiled && !entry.empty()) fs::remove(entry, ec);  // damaged or refused: never tried again
  if (!compiled) {
    blob = std::string();
    compiled.reset(p.open(config, status));
    if (!compiled) {
      throw Error(status.code, status.message +
                                   "\n  The file is not a model OpenVINO can compile (corrupt, or an operator its ONNX "
                                   "frontend lacks); try --engine ort, or re-export it with `kprcnn export`.");
    }
  }

  ModelInfo info;
  info.path = model;
  compiled->describe(info.inputs, info.outputs);
  info.metadata = model_file_stats(model).metadata;  // OpenVINO does not keep ONNX metadata_props
  check_contract(info);
  for (const auto& t : info.outputs) {
    if (t.name == "keypoints" && t.shape.size() == 3 && t.shape[1] > 0)
      info.num_keypoints = static_cast<int>(t.shape[1]);
  }

  if (!entry.empty() && !loaded.cache_hit) {
    std::string exported;
    const plugin::Status s = compiled->export_blob(exported);
    if (!s.ok) {
      loaded.cache_note = s.message;
    } else {
      std::string note;
      write_entry(entry, exported, note);
      if (note.empty()) {
        loaded.cache_file = entry;
      } else {
        loaded.cache_note = note;
      }
      cache::evict_entries(options.model_cache_dir, kCacheEntries, ".ovblob");
    }
  }
  loaded.description = compiled->description();
  loaded.load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  return std::make_unique<OpenVinoEngine>(std::move(blob), std::move(compiled), std::move(info), std::move(loaded));
}

}  // namespace kprcnn::engine

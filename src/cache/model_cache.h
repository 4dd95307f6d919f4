// The model caches of both engines: ONNX Runtime's graph optimisations (constant folding, fusions, NCHWc layout)
// and OpenVINO's compilation take most of a Keypoint R-CNN's load time; their result is saved once and loaded on
// later starts instead (ONNX Runtime: the optimised graph, `.onnx`; OpenVINO: the exported compiled model with a
// checksum trailer, `.ovblob`, see src/engine_openvino.cpp).
//
// An entry is `<dir>/<model stem>-<key><extension>`, key = 64-bit hash (XXH64) of: a format tag, the engine and its
// version and settings that change the result, the CPU (vendor/model string and feature flags: the saved graph may use
// this CPU's NCHWc block size), the optimisation level, and the model file's size and whole content. The content hash
// is computed once per file version and remembered in <dir>/content-hashes under the file's device, inode, size, mtime
// and ctime (ctime changes with every write or utime call and cannot be set back), so a restart does not re-read the
// model. Any change to the model, the runtime or the machine gives another key, so a stale entry is never used; old
// entries are evicted least-recently-used. Entries are written to a temporary file and renamed, so concurrent processes
// never see a partial entry. No engine types here: the engines do the saving and loading.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

namespace kprcnn::cache {

// XXH64 (the xxHash specification), seed 0 unless given.
std::uint64_t xxh64(std::span<const std::uint8_t> data, std::uint64_t seed = 0);

// Facts about this machine that change what an optimised graph looks like (cached per process).
const std::string& cpu_identity();

// XXH64 of the model file's whole content (memory-mapped); kIo error naming the file when it cannot be read.
std::uint64_t file_content_hash(const std::filesystem::path& file);

// The cache entry for `model` under `dir`: dir / "<stem>-<16 hex digits><extension>". `engine` names the engine,
// its version and every setting that changes what is saved ("1.22.0" for ONNX Runtime, whose entries predate the
// OpenVINO ones and keep their keys).
std::filesystem::path cache_entry(const std::filesystem::path& dir, const std::filesystem::path& model,
                                  std::string_view engine, int optimization_level,
                                  std::string_view extension = ".onnx");

// $XDG_CACHE_HOME/kprcnn, else $HOME/.cache/kprcnn, else "" (no cache).
std::filesystem::path default_cache_dir();

// Entries are written with detail::AtomicFile (src/atomic_file.h, Durability::kCache): its ".tmp-" temporaries
// left by a crashed writer are removed by evict_entries after a day.
// Marks `entry` as used now (its mtime), for the LRU eviction.
void touch_entry(const std::filesystem::path& entry) noexcept;

// Removes the least recently used *<extension> entries (and stale temporaries older than a day) so that at most
// `keep` entries remain. Best effort: errors are ignored.
void evict_entries(const std::filesystem::path& dir, std::size_t keep, std::string_view extension = ".onnx") noexcept;

}  // namespace kprcnn::cache

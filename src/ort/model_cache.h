// The optimised-model cache: ONNX Runtime's graph optimisations (constant folding, fusions, NCHWc layout) take
// most of a Keypoint R-CNN's load time; the optimised graph is saved once and loaded on later starts instead.
//
// An entry is `<dir>/<model stem>-<key>.onnx`, key = 64-bit hash (XXH64) of: a format tag, the ONNX Runtime
// version, the CPU (vendor/model string and feature flags: the saved graph may use this CPU's NCHWc block size),
// the optimisation level, and the model file's size and whole content. The content hash is computed once per
// file version and remembered in <dir>/content-hashes under the file's device, inode, size, mtime and ctime (ctime
// changes with every write or utime call and cannot be set back), so a restart does not re-read the model. Any
// change to the model, the runtime or the machine gives another key, so a stale entry is never used; old entries
// are evicted least-recently-used.
// Entries are written to a temporary file and renamed, so concurrent processes never see a partial entry.
// No ONNX Runtime types here: the session does the saving and loading.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

namespace kprcnn::ort {

// XXH64 (the xxHash specification), seed 0 unless given.
std::uint64_t xxh64(std::span<const std::uint8_t> data, std::uint64_t seed = 0);

// Facts about this machine that change what an optimised graph looks like (cached per process).
const std::string& cpu_identity();

// XXH64 of the model file's whole content (memory-mapped); kIo error naming the file when it cannot be read.
std::uint64_t file_content_hash(const std::filesystem::path& file);

// The cache entry for `model` under `dir`: dir / "<stem>-<16 hex digits>.onnx".
std::filesystem::path cache_entry(const std::filesystem::path& dir, const std::filesystem::path& model,
                                  std::string_view ort_version, int optimization_level);

// $XDG_CACHE_HOME/kprcnn, else $HOME/.cache/kprcnn, else "" (no cache).
std::filesystem::path default_cache_dir();

// Marks `entry` as used now (its mtime), for the LRU eviction.
void touch_entry(const std::filesystem::path& entry) noexcept;

// Removes the least recently used *.onnx entries (and stale temporaries older than a day) so that at most
// `keep` entries remain. Best effort: errors are ignored.
void evict_entries(const std::filesystem::path& dir, std::size_t keep) noexcept;

}  // namespace kprcnn::ort

// The optimised-model cache: keys, entry names, eviction. See model_cache.h.
#include "cache/model_cache.h"

#include "atomic_file.h"
#include "kprcnn/error.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

#include "atomic_file.h"
#include "kprcnn/error.h"

namespace kprcnn::cache {
namespace fs = std::filesystem;
namespace {

constexpr std::uint64_t kP1 = 11400714785074694791ULL, kP2 = 14029467366897019727ULL, kP3 = 1609587929392839161ULL,
                        kP4 = 9650029242287828579ULL, kP5 = 2870177450012600261ULL;
constexpr char kFormatTag[] = "kprcnn-optimized-model-cache-v1";

inline std::uint64_t rotl(std::uint64_t x, int r) {
  return (x << r) | (x >> (64 - r));
}
inline std::uint64_t read64(const std::uint8_t* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);  // little-endian hosts (x86-64, aarch64): the specification's byte order
  return v;
}
inline std::uint32_t read32(const std::uint8_t* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline std::uint64_t xxh_round(std::uint64_t acc, std::uint64_t input) {
  return rotl(acc + input * kP2, 31) * kP1;
}
inline std::uint64_t merge(std::uint64_t acc, std::uint64_t v) {
  return (acc ^ xxh_round(0, v)) * kP1 + kP4;
}

std::string first_line_value(const std::string& text, const char* key) {
  const std::string prefix = std::string("\n") + key;
  const std::size_t at = ("\n" + text).find(prefix);
  if (at == std::string::npos) return {};
  const std::size_t colon = text.find(':', at);
  const std::size_t end = text.find('\n', at);
  if (colon == std::string::npos || colon > end) return {};
  return text.substr(colon + 1, end == std::string::npos ? std::string::npos : end - colon - 1);
}

std::string hex16(std::uint64_t v) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(v));
  return text;
}

}  // namespace

std::uint64_t xxh64(std::span<const std::uint8_t> data, std::uint64_t seed) {
  const std::uint8_t* p = data.data();
  const std::uint8_t* const end = p + data.size();
  std::uint64_t h;
  if (data.size() >= 32) {
    std::uint64_t v1 = seed + kP1 + kP2, v2 = seed + kP2, v3 = seed, v4 = seed - kP1;
    for (const std::uint8_t* limit = end - 32; p <= limit; p += 32) {
      v1 = xxh_round(v1, read64(p));
      v2 = xxh_round(v2, read64(p + 8));
      v3 = xxh_round(v3, read64(p + 16));
      v4 = xxh_round(v4, read64(p + 24));
    }
    h = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18);
    h = merge(merge(merge(merge(h, v1), v2), v3), v4);
  } else {
    h = seed + kP5;
  }
  h += data.size();
  for (; end - p >= 8; p += 8) h = rotl(h ^ xxh_round(0, read64(p)), 27) * kP1 + kP4;
  if (end - p >= 4) {
    h = rotl(h ^ (static_cast<std::uint64_t>(read32(p)) * kP1), 23) * kP2 + kP3;
    p += 4;
  }
  for (; p < end; ++p) h = rotl(h ^ (*p * kP5), 11) * kP1;
  h ^= h >> 33;
  h *= kP2;
  h ^= h >> 29;
  h *= kP3;
  h ^= h >> 32;
  return h;
}

const std::string& cpu_identity() {
  static const std::string identity = [] {
    std::ifstream in("/proc/cpuinfo");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::string id = first_line_value(text, "vendor_id") + "|" + first_line_value(text, "model name") + "|" +
                     first_line_value(text, "flags");
    if (id == "||") {  // not Linux /proc: the compiler's view of the CPU features
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
      __builtin_cpu_init();
      id = std::string("x86") + (__builtin_cpu_supports("avx2") ? "+avx2" : "") +
           (__builtin_cpu_supports("avx512f") ? "+avx512f" : "") +
           (__builtin_cpu_supports("avx512vnni") ? "+avx512vnni" : "");
#else
      id = "unknown-cpu";
#endif
    }
    return id;
  }();
  return identity;
}

std::uint64_t file_content_hash(const fs::path& file) {
  // Mapped, not read: hashing the pages in place is several times faster than copying 240 MB through fread.
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(ErrorCode::kIo, "cannot read " + file.string() + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    throw Error(ErrorCode::kIo, "cannot read " + file.string() + ": " + std::strerror(err));
  }
  const std::size_t size = static_cast<std::size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    return xxh64({});
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) throw Error(ErrorCode::kIo, "cannot map " + file.string() + ": " + std::strerror(errno));
  ::madvise(map, size, MADV_SEQUENTIAL);
  const std::uint64_t h = xxh64({static_cast<const std::uint8_t*>(map), size});
  ::munmap(map, size);
  return h;
}

namespace {

// The content hash of a model file, remembered per file identity in <dir>/content-hashes (see model_cache.h), so
// that a restart skips re-reading the model (~0.1 s for 240 MB) while any change to the file is still noticed.
constexpr const char* kHashIndex = "content-hashes";
constexpr std::size_t kHashIndexEntries = 64;

std::string file_identity(const fs::path& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return {};
  char text[160];
  std::snprintf(text, sizeof text, "%llu:%llu:%lld:%lld.%09ld:%lld.%09ld", static_cast<unsigned long long>(st.st_dev),
                static_cast<unsigned long long>(st.st_ino), static_cast<long long>(st.st_size),
                static_cast<long long>(st.st_mtim.tv_sec), st.st_mtim.tv_nsec,
                static_cast<long long>(st.st_ctim.tv_sec), st.st_ctim.tv_nsec);
  return text;
}

std::uint64_t remembered_content_hash(const fs::path& dir, const fs::path& model) {
  const std::string identity = file_identity(model);
  if (identity.empty() || dir.empty()) return file_content_hash(model);
  const fs::path index = dir / kHashIndex;
  std::vector<std::string> lines;
  {
    std::ifstream in(index);
    for (std::string line; std::getline(in, line);) {
      if (line.size() == identity.size() + 17 && line.compare(0, identity.size() + 1, identity + " ") == 0) {
        return std::strtoull(line.c_str() + identity.size() + 1, nullptr, 16);
      }
      if (!line.empty()) lines.push_back(line);
    }
  }
  const std::uint64_t hash = file_content_hash(model);
  lines.push_back(identity + " " + hex16(hash));
  if (lines.size() > kHashIndexEntries) lines.erase(lines.begin(), lines.end() - kHashIndexEntries);
  std::error_code ec;
  fs::create_directories(dir, ec);
  try {
    std::string text;
    for (const auto& line : lines) text += line + "\n";
    detail::AtomicFile out(index, detail::AtomicFile::Durability::kCache);
    out.write(text);
    out.commit();
  } catch (const Error&) {
    // best effort: the index only saves time
  }
  return hash;
}

}  // namespace

fs::path cache_entry(const fs::path& dir, const fs::path& model, std::string_view engine, int optimization_level,
                     std::string_view extension) {
  std::error_code ec;
  const std::uintmax_t size = fs::file_size(model, ec);
  std::string header = std::string(kFormatTag) + "\n" + std::string(engine) + "\n" + cpu_identity() + "\n" +
                       std::to_string(optimization_level) + "\n" + std::to_string(ec ? 0 : size) + "\n";
  const std::uint64_t content = remembered_content_hash(dir, model);
  header += hex16(content);
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(header.data());
  const std::uint64_t key = xxh64({bytes, header.size()});
  std::string stem = model.stem().string();
  if (stem.size() > 64) stem.resize(64);
  return dir / (stem + "-" + hex16(key) + std::string(extension));
}

fs::path default_cache_dir() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg != nullptr && xdg[0] == '/') return fs::path(xdg) / "kprcnn";
  const char* home = std::getenv("HOME");
  if (home != nullptr && home[0] == '/') return fs::path(home) / ".cache" / "kprcnn";
  return {};
}

void touch_entry(const fs::path& entry) noexcept {
  std::error_code ec;
  fs::last_write_time(entry, fs::file_time_type::clock::now(), ec);
}

void evict_entries(const fs::path& dir, std::size_t keep, std::string_view extension) noexcept {
  try {
    std::error_code ec;
    std::vector<std::pair<fs::file_time_type, fs::path>> entries;
    const auto now = fs::file_time_type::clock::now();
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      const std::string name = e.path().filename().string();
      const auto time = e.last_write_time(ec);
      if (ec) continue;
      if (name.rfind(".tmp-", 0) == 0) {
        if (now - time > std::chrono::hours(24)) fs::remove(e.path(), ec);  // a crashed writer's leftover
      } else if (e.path().extension() == extension) {
        entries.emplace_back(time, e.path());
      }
    }
    if (entries.size() <= keep) return;
    std::sort(entries.begin(), entries.end());  // oldest first
    for (std::size_t i = 0; i + keep < entries.size(); ++i) fs::remove(entries[i].second, ec);
  } catch (...) {
  }
}

}  // namespace kprcnn::cache

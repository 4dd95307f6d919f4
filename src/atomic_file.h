// The one way kprcnn writes a file that readers must never see half-written: the bytes go to a temporary file
// beside the target, which commit() renames over it (readers see the old file or the whole new one). Destroyed
// before commit (an exception, a failed write, a crash's next cleanup), the temporary is removed.
//
// Users: write_file_atomic (image.h: every JSON, PNG and COCO file the CLI writes), the model cache's entries and
// hash index (src/cache, src/ort/session.cpp, src/engine_openvino.cpp) and `kprcnn optimize`. ONNX Runtime writes
// its optimised model by path: those callers hand it temp_path() and commit afterwards.
//
// Temporary names are ".tmp-<pid>-<n>-<target name>" in the target's folder, so the model cache's eviction can
// recognise a crashed writer's leftovers (cache::evict_entries).
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string_view>

namespace kprcnn::detail {

// open(2), retried on EINTR (file_io.cpp's reads use it too).
int open_retrying(const char* name, int flags, unsigned mode = 0);

class AtomicFile {
 public:
  enum class Durability {
    kFsync,  // data and rename fsynced: user outputs, which must survive a power cut once written
    kCache,  // no fsync: cache entries, which are checked when read and rebuilt when damaged
  };
  // Creates the temporary (exclusive, mode 0666 minus the umask; replacing a file keeps its permission bits).
  // Throws kIo naming the target and why (missing or unwritable folder, a folder of that name, ...).
  explicit AtomicFile(std::filesystem::path target, Durability durability = Durability::kFsync);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  const std::filesystem::path& temp_path() const noexcept { return temp_; }
  const std::filesystem::path& target() const noexcept { return target_; }

  void write(std::span<const std::uint8_t> bytes);  // kIo (disk full, quota) naming the target
  void write(std::string_view text);
  // Closes (reporting delayed write errors), fsyncs per Durability and renames over the target. kIo on failure,
  // the temporary then removed.
  void commit();

 private:
  std::filesystem::path target_, folder_, temp_;
  Durability durability_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace kprcnn::detail

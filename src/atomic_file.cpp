// AtomicFile (atomic_file.h): temporary beside the target, write, fsync, rename.
#include "atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <string>
#include <system_error>
#include <utility>

#include "kprcnn/error.h"

namespace kprcnn::detail {
namespace {

std::string quoted(const std::filesystem::path& path) {
  return "'" + path.string() + "'";
}

// Thread-safe strerror.
std::string errno_text(int err) {
  return std::generic_category().message(err);
}

[[noreturn]] void throw_write_error(const std::filesystem::path& path, const std::filesystem::path& folder, int err) {
  std::string hint;
  switch (err) {
    case ENOENT:
    case ENOTDIR: hint = " (does the folder " + quoted(folder) + " exist?)"; break;
    case EACCES:
    case EPERM:
    case EROFS: hint = " (is the folder " + quoted(folder) + " writable?)"; break;
    case ENOSPC:
    case EDQUOT: hint = " (the disk is full or over quota: free some space)"; break;
    case EISDIR: hint = " (a folder has that name)"; break;
    default: break;
  }
  throw Error(ErrorCode::kIo, "cannot write " + quoted(path) + ": " + errno_text(err) + hint);
}

}  // namespace

int open_retrying(const char* name, int flags, unsigned mode) {
  int fd = -1;
  do {
    fd = ::open(name, flags, static_cast<mode_t>(mode));
  } while (fd < 0 && errno == EINTR);
  return fd;
}

AtomicFile::AtomicFile(std::filesystem::path target, Durability durability)
    : target_(std::move(target)), durability_(durability) {
  folder_ = target_.has_parent_path() ? target_.parent_path() : std::filesystem::path(".");
  static std::atomic<unsigned> counter{0};
  std::string base = target_.filename().string();
  if (base.size() > 200) base.resize(200);  // keep the temporary's name under NAME_MAX (255)
  for (int attempt = 0;; ++attempt) {
    temp_ = folder_ / (".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1)) + "-" + base);
    fd_ = open_retrying(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ >= 0) break;
    const int err = errno;
    if (err != EEXIST || attempt >= 100) throw_write_error(target_, folder_, err);  // EEXIST: a stale temporary
  }
  // Replacing a file keeps its permission bits (best effort); a new file gets 0666 minus the umask.
  struct stat existing {};
  if (::stat(target_.c_str(), &existing) == 0 && S_ISREG(existing.st_mode)) {
    (void)::fchmod(fd_, existing.st_mode & 07777);
  }
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(temp_.c_str());
}

void AtomicFile::write(std::span<const std::uint8_t> bytes) {
  const std::uint8_t* data = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    const ssize_t n = ::write(fd_, data, std::min<std::size_t>(left, std::size_t{1} << 30));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_write_error(target_, folder_, errno);  // ENOSPC lands here (or at fsync/close): the temporary is removed
    }
    data += n;
    left -= static_cast<std::size_t>(n);
  }
}

void AtomicFile::write(std::string_view text) {
  write(std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

void AtomicFile::commit() {
  const bool durable = durability_ == Durability::kFsync;
  // fsync reports what the page cache could not write (ENOSPC, EIO); file systems without fsync are let through.
  // A writer that wrote temp_path() by name (ONNX Runtime) wrote through its own descriptor: fsync through ours
  // still covers the file.
  if (durable && ::fsync(fd_) != 0 && errno != EINVAL && errno != ENOTSUP) throw_write_error(target_, folder_, errno);
  // close() reports delayed write errors (NFS, quotas).
  const int closed = ::close(fd_);
  fd_ = -1;
  if (closed != 0) throw_write_error(target_, folder_, errno);
  if (::rename(temp_.c_str(), target_.c_str()) != 0) throw_write_error(target_, folder_, errno);
  committed_ = true;
  if (!durable) return;
  // Make the rename itself durable; the data is already safe, so failing here is not an error.
  const int dir_fd = open_retrying(folder_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    (void)::fsync(dir_fd);
    ::close(dir_fd);
  }
}

}  // namespace kprcnn::detail

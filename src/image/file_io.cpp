// image/file_io.cpp — whole-file reads, atomic writes (POSIX), write_image.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <string>
#include <system_error>
#include <utility>

#include "kprcnn/error.h"
#include "kprcnn/image.h"

namespace kprcnn {
namespace {

// read_file refuses anything larger: no image we accept comes close, and a stray multi-GB file must not be read
// into memory.
constexpr std::uint64_t kMaxReadBytes = std::uint64_t{1} << 30;

std::string quoted(const std::filesystem::path& path) {
  return "'" + path.string() + "'";
}

// Thread-safe strerror.
std::string errno_text(int err) {
  return std::generic_category().message(err);
}

[[noreturn]] void throw_read_error(const std::filesystem::path& path, int err) {
  throw Error(ErrorCode::kIo, "cannot read " + quoted(path) + ": " + errno_text(err));
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

int open_retrying(const char* name, int flags, mode_t mode = 0) {
  int fd = -1;
  do {
    fd = ::open(name, flags, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

class ReadFd {
 public:
  explicit ReadFd(int fd) : fd_(fd) {}
  ~ReadFd() { ::close(fd_); }
  ReadFd(const ReadFd&) = delete;
  ReadFd& operator=(const ReadFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// The temporary file of write_file_atomic: closed and removed on every path that does not commit it.
class TempFile {
 public:
  TempFile(int fd, std::filesystem::path path) : fd_(fd), path_(std::move(path)) {}
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  int fd() const { return fd_; }
  const std::filesystem::path& path() const { return path_; }
  // close() reports delayed write errors (NFS, quotas): check it. Returns errno, 0 on success.
  int close() {
    const int result = ::close(fd_);
    fd_ = -1;
    return result == 0 ? 0 : errno;
  }
  void commit() { committed_ = true; }

 private:
  int fd_;
  std::filesystem::path path_;
  bool committed_ = false;
};

// A new, exclusive temporary beside `path`: ".<name>.tmp-<pid>-<counter>".
TempFile create_temp_beside(const std::filesystem::path& path, const std::filesystem::path& folder) {
  static std::atomic<unsigned> counter{0};
  std::string base = path.filename().string();
  if (base.size() > 200) base.resize(200);  // keep the temporary's name under NAME_MAX (255)
  for (int attempt = 0;; ++attempt) {
    std::filesystem::path temp =
        folder / ("." + base + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1)));
    const int fd = open_retrying(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) return TempFile(fd, std::move(temp));
    const int err = errno;
    if (err != EEXIST || attempt >= 100) throw_write_error(path, folder, err);  // EEXIST: a stale temporary
  }
}

}  // namespace

std::vector<std::uint8_t> read_file(const std::filesystem::path& path) {
  const int raw_fd = open_retrying(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (raw_fd < 0) throw_read_error(path, errno);
  const ReadFd fd(raw_fd);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw_read_error(path, errno);
  if (S_ISDIR(st.st_mode)) throw Error(ErrorCode::kIo, "cannot read " + quoted(path) + ": it is a folder, not a file");
  const auto too_large = [&](std::uint64_t size) {
    return Error(ErrorCode::kIo, "cannot read " + quoted(path) + ": it is larger than " +
                                     std::to_string(kMaxReadBytes >> 20) + " MiB (" + std::to_string(size) +
                                     " bytes); no image input is that large");
  };
  const bool regular = S_ISREG(st.st_mode);
  const std::uint64_t declared = regular && st.st_size > 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
  if (declared > kMaxReadBytes) throw too_large(declared);

  std::vector<std::uint8_t> bytes;
  bytes.reserve(static_cast<std::size_t>(declared));
  // Read until end of file, not just st_size bytes: the file may grow, and pipes/devices have no size.
  for (;;) {
    const std::size_t have = bytes.size();
    const std::size_t chunk = std::max<std::size_t>(64 * 1024, declared > have ? declared - have + 1 : 0);
    bytes.resize(have + chunk);
    const ssize_t n = ::read(fd.get(), bytes.data() + have, chunk);
    if (n < 0) {
      const int err = errno;
      bytes.resize(have);
      if (err == EINTR) continue;
      throw_read_error(path, err);
    }
    bytes.resize(have + static_cast<std::size_t>(n));
    if (n == 0) break;
    if (bytes.size() > kMaxReadBytes) throw too_large(bytes.size());
  }
  bytes.shrink_to_fit();
  return bytes;
}

void write_file_atomic(const std::filesystem::path& path, std::span<const std::uint8_t> bytes) {
  const std::filesystem::path name = path.filename();
  if (name.empty() || name == "." || name == "..") {
    throw Error(ErrorCode::kInvalidArgument, "cannot write " + quoted(path) + ": it does not name a file");
  }
  const std::filesystem::path folder = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  TempFile temp = create_temp_beside(path, folder);

  // Replacing a file keeps its permission bits (best effort); a new file gets 0666 minus the umask.
  struct stat existing {};
  if (::stat(path.c_str(), &existing) == 0 && S_ISREG(existing.st_mode)) {
    (void)::fchmod(temp.fd(), existing.st_mode & 07777);
  }

  const std::uint8_t* data = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    const ssize_t n = ::write(temp.fd(), data, std::min<std::size_t>(left, std::size_t{1} << 30));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_write_error(path, folder, errno);  // ENOSPC lands here (or at fsync/close): the temporary is removed
    }
    data += n;
    left -= static_cast<std::size_t>(n);
  }
  // fsync reports what the page cache could not write (ENOSPC, EIO); file systems without fsync are let through.
  if (::fsync(temp.fd()) != 0 && errno != EINVAL && errno != ENOTSUP) throw_write_error(path, folder, errno);
  if (const int err = temp.close(); err != 0) throw_write_error(path, folder, err);
  if (::rename(temp.path().c_str(), path.c_str()) != 0) throw_write_error(path, folder, errno);
  temp.commit();
  // Make the rename itself durable; the data is already safe, so failing here is not an error.
  const int dir_fd = open_retrying(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    (void)::fsync(dir_fd);
    ::close(dir_fd);
  }
}

void write_file_atomic(const std::filesystem::path& path, std::string_view text) {
  write_file_atomic(path, std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

void write_image(const Image& image, const std::filesystem::path& path, int jpeg_quality) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  if (ext == ".png") {
    write_file_atomic(path, encode_png(image));
  } else if (ext == ".jpg" || ext == ".jpeg") {
    write_file_atomic(path, encode_jpeg(image, jpeg_quality));
  } else {
    throw Error(ErrorCode::kInvalidArgument,
                "cannot tell the image format of " + quoted(path) + " from its extension: use .png, .jpg or .jpeg");
  }
}

}  // namespace kprcnn

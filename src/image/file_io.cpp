// image/file_io.cpp — whole-file reads (POSIX), atomic writes (src/atomic_file.h), write_image.

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

#include "atomic_file.h"
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

}  // namespace

std::vector<std::uint8_t> read_file(const std::filesystem::path& path) {
  const int raw_fd = detail::open_retrying(path.c_str(), O_RDONLY | O_CLOEXEC);
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
  detail::AtomicFile file(path);
  file.write(bytes);
  file.commit();
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

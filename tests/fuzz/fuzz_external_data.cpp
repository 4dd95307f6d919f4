// The protobuf walks over a model file, before ONNX Runtime opens it: the external-data guard
// (src/ort/external_data.cpp, fault row 7) and model_file_stats (node count and metadata, `kprcnn optimize`
// and `kprcnn info`), both on src/ort/protobuf_wire.h. Invariants: no read outside the buffer, bounded recursion,
// every location and metadata key/value found is a substring of the input, node count at most the byte count.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_input.h"
#include "kprcnn/model_tools.h"
#include "ort/external_data.h"

namespace {

using kprcnn::fuzz::fail;

// model_file_stats reads a path: the input goes into an in-memory file, reused across executions.
std::string memory_file(const std::uint8_t* data, std::size_t size) {
  static const int fd = memfd_create("fuzz-model", 0);
  if (fd < 0 || ftruncate(fd, 0) != 0) fail("memfd");
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = pwrite(fd, data + done, size - done, static_cast<off_t>(done));
    if (n <= 0) fail("memfd write");
    done += static_cast<std::size_t>(n);
  }
  return "/proc/self/fd/" + std::to_string(fd);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = kprcnn::fuzz::as_text({data, size});
  const auto inside = [&](const std::string& s) { return s.size() <= size && text.find(s) != std::string_view::npos; };
  for (const std::string& location : kprcnn::ort::external_data_locations({data, size})) {
    if (!inside(location)) fail("a location that is not in the input");
  }
  const kprcnn::ModelFileStats stats = kprcnn::model_file_stats(memory_file(data, size));
  if (stats.bytes != size) fail("model_file_stats: wrong byte count");
  if (stats.nodes > size) fail("model_file_stats: more nodes than bytes");
  for (const auto& [key, value] : stats.metadata) {
    if (!inside(key) || !inside(value)) fail("model_file_stats: metadata not in the input");
  }
  return 0;
}

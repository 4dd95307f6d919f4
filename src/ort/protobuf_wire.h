// Just enough of the protobuf wire format to read a few fields of a serialized ONNX ModelProto without a protobuf
// library (the external-data guard, node counts, metadata), and a read-only mapping of a model file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>

namespace kprcnn::ort::wire {

// Reads a base-128 varint at p (advancing p); false when it runs past end or over 10 bytes.
inline bool read_varint(const std::uint8_t*& p, const std::uint8_t* end, std::uint64_t& value) {
  value = 0;
  for (int shift = 0; shift < 64 && p < end; shift += 7) {
    const std::uint8_t byte = *p++;
    value |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return true;
  }
  return false;
}

// Calls visit(field_number, payload) for each length-delimited field of one message (the only wire type that
// nests), skipping the others. Returns false on malformed input; fields before the damage have been visited.
// visit returns false to stop the walk (which then also returns false).
template <typename Visit>
bool for_each_bytes_field(std::span<const std::uint8_t> message, Visit&& visit) {
  const std::uint8_t* p = message.data();
  const std::uint8_t* const end = p + message.size();
  while (p < end) {
    std::uint64_t tag = 0;
    if (!read_varint(p, end, tag)) return false;
    switch (tag & 7) {
      case 0: {
        std::uint64_t ignored;
        if (!read_varint(p, end, ignored)) return false;
        break;
      }
      case 1:
        if (end - p < 8) return false;
        p += 8;
        break;
      case 5:
        if (end - p < 4) return false;
        p += 4;
        break;
      case 2: {
        std::uint64_t length = 0;
        if (!read_varint(p, end, length) || length > static_cast<std::uint64_t>(end - p)) return false;
        if (!visit(tag >> 3, std::span<const std::uint8_t>(p, static_cast<std::size_t>(length)))) return false;
        p += length;
        break;
      }
      default: return false;  // groups (3, 4) and invalid wire types do not occur in ONNX
    }
  }
  return true;
}

// Read-only mapping of a whole file (a model may be hundreds of MB; pages are only touched when read).
// Throws kIo when the file cannot be opened; an empty or unmappable file gives empty bytes().
class MappedFile {
 public:
  explicit MappedFile(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  std::span<const std::uint8_t> bytes() const noexcept { return {data_, size_}; }

 private:
  int fd_ = -1;
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace kprcnn::ort::wire

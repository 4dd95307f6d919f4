// A cursor over the fuzzer's bytes: fixed-size little-endian reads that return zero once the data runs out, so a
// target can always read its whole header (libFuzzer's FuzzedDataProvider is Clang-only; the replay build is GCC).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

namespace kprcnn::fuzz {

class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  template <typename T>
  T read() {
    T value{};
    std::uint8_t bytes[sizeof(T)] = {};
    const std::size_t n = std::min(sizeof(T), size_ - pos_);
    if (n > 0) std::memcpy(bytes, data_ + pos_, n);
    pos_ += n;
    std::memcpy(&value, bytes, sizeof(T));
    return value;
  }
  // `count` values read at once (zero-filled past the end of the data): cheaper than count read<T>() calls.
  template <typename T>
  std::vector<T> read_array(std::size_t count) {
    std::vector<T> values(count);
    const std::size_t n = std::min(count * sizeof(T), size_ - pos_);
    if (n > 0) std::memcpy(values.data(), data_ + pos_, n);
    pos_ += n;
    return values;
  }
  std::size_t remaining() const { return size_ - pos_; }
  std::span<const std::uint8_t> rest() const { return {data_ + pos_, size_ - pos_}; }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

inline std::string_view as_text(std::span<const std::uint8_t> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// A broken invariant: print what and abort, so libFuzzer records the input as a crash.
[[noreturn]] inline void fail(const char* what, const char* detail = "") {
  std::fprintf(stderr, "fuzz invariant broken: %s %s\n", what, detail);
  std::abort();
}

}  // namespace kprcnn::fuzz

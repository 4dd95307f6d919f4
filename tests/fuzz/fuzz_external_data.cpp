// The protobuf walk over a model file that finds external-data locations (src/ort/external_data.cpp) before ONNX
// Runtime opens the file (RELIABILITY row 7). Invariants: no read outside the buffer, bounded recursion, and every
// location found is a substring of the input.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_input.h"
#include "ort/external_data.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = kprcnn::fuzz::as_text({data, size});
  for (const std::string& location : kprcnn::ort::external_data_locations({data, size})) {
    if (location.size() > size || text.find(location) == std::string_view::npos) {
      kprcnn::fuzz::fail("a location that is not in the input");
    }
  }
  return 0;
}

// A minimal protobuf wire-format walk over the ONNX schema's nesting, reading only what locates external data.
// Field numbers from onnx.proto: ModelProto.graph = 7, .functions = 25; GraphProto.node = 1, .initializer = 5,
// .sparse_initializer = 15; NodeProto.attribute = 5; AttributeProto.t = 5, .g = 6, .tensors = 10, .graphs = 11,
// .sparse_tensor = 22, .sparse_tensors = 23; FunctionProto.node = 7; SparseTensorProto.values = 1, .indices = 2;
// TensorProto.external_data = 13 (StringStringEntryProto: key = 1, value = 2).
#include "ort/external_data.h"

#include <algorithm>

#include "kprcnn/error.h"
#include "ort/protobuf_wire.h"

namespace kprcnn::ort {
namespace {

enum class Kind { kModel, kFunction, kGraph, kNode, kAttribute, kSparseTensor, kTensor, kEntry, kOther };

Kind child(Kind parent, std::uint64_t field) {
  switch (parent) {
    case Kind::kModel: return field == 7 ? Kind::kGraph : field == 25 ? Kind::kFunction : Kind::kOther;
    case Kind::kFunction: return field == 7 ? Kind::kNode : Kind::kOther;
    case Kind::kGraph:
      return field == 1 ? Kind::kNode : field == 5 ? Kind::kTensor : field == 15 ? Kind::kSparseTensor : Kind::kOther;
    case Kind::kNode: return field == 5 ? Kind::kAttribute : Kind::kOther;
    case Kind::kAttribute:
      if (field == 5 || field == 10) return Kind::kTensor;
      if (field == 6 || field == 11) return Kind::kGraph;
      if (field == 22 || field == 23) return Kind::kSparseTensor;
      return Kind::kOther;
    case Kind::kSparseTensor: return field == 1 || field == 2 ? Kind::kTensor : Kind::kOther;
    case Kind::kTensor: return field == 13 ? Kind::kEntry : Kind::kOther;
    default: return Kind::kOther;
  }
}

using wire::read_varint;

struct Walker {
  std::vector<std::string> locations;

  // Returns false on malformed input (the walk stops; what was found so far is kept).
  bool walk(Kind kind, const std::uint8_t* p, const std::uint8_t* end, int depth) {
    // Deeper than protobuf's own parse limit (100), so every model ONNX Runtime accepts is walked completely.
    if (depth > 200) return false;
    std::string key, value;
    while (p < end) {
      std::uint64_t tag = 0;
      if (!read_varint(p, end, tag)) return false;
      const std::uint64_t field = tag >> 3;
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
          const std::uint8_t* next = p + length;
          if (kind == Kind::kEntry && (field == 1 || field == 2)) {
            (field == 1 ? key : value).assign(reinterpret_cast<const char*>(p), length);
          } else if (Kind c = child(kind, field); c != Kind::kOther) {
            if (!walk(c, p, next, depth + 1)) return false;
          }
          p = next;
          break;
        }
        default: return false;  // groups (3, 4) and invalid wire types do not occur in ONNX
      }
    }
    if (kind == Kind::kEntry && key == "location") locations.push_back(value);
    return true;
  }
};

}  // namespace

std::vector<std::string> external_data_locations(std::span<const std::uint8_t> model_bytes) {
  Walker walker;
  walker.walk(Kind::kModel, model_bytes.data(), model_bytes.data() + model_bytes.size(), 0);
  return std::move(walker.locations);
}

void check_external_data(const std::filesystem::path& model) {
  namespace fs = std::filesystem;
  const wire::MappedFile file(model);
  const std::vector<std::string> locations = external_data_locations(file.bytes());
  if (locations.empty()) return;
  std::error_code ec;
  const fs::path folder = fs::weakly_canonical(fs::absolute(model).parent_path(), ec);
  for (const std::string& location : locations) {
    const fs::path rel(location);
    bool inside = !location.empty() && !rel.is_absolute() && location.find('\0') == std::string::npos;
    if (inside) {
      const fs::path resolved = fs::weakly_canonical(folder / rel, ec);
      auto [f, r] = std::mismatch(folder.begin(), folder.end(), resolved.begin(), resolved.end());
      inside = !ec && f == folder.end() && r != resolved.end();
    }
    if (!inside) {
      throw Error(ErrorCode::kModelLoad, "model " + model.string() + " refers to external data '" + location +
                                             "' outside its folder; a model's external data files must sit in "
                                             "the model's folder (re-export it, or move the data next to it)");
    }
  }
}

}  // namespace kprcnn::ort

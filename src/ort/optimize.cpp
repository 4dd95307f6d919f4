// Offline graph optimisation with ONNX Runtime (SessionOptions::SetOptimizedModelFilePath) and the model-file
// facts reported around it (size, node count, metadata), read by a protobuf walk. See kprcnn/detector.h.
//
// Field numbers from onnx.proto: ModelProto.graph = 7, .metadata_props = 14, .functions = 25; GraphProto.node = 1;
// NodeProto.attribute = 5; AttributeProto.g = 6, .graphs = 11; FunctionProto.node = 7;
// StringStringEntryProto.key = 1, .value = 2.
#define ORT_API_MANUAL_INIT
#include <fcntl.h>
#include <onnxruntime_cxx_api.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <system_error>

#include "atomic_file.h"
#include "kprcnn/detector.h"
#include "kprcnn/error.h"
#include "kprcnn/model_tools.h"
#include "ort/external_data.h"
#include "ort/protobuf_wire.h"
#include "ort/session.h"

namespace kprcnn {
namespace {

namespace fs = std::filesystem;
namespace wire = ort::wire;
using Bytes = std::span<const std::uint8_t>;

constexpr int kMaxDepth = 200;  // deeper than protobuf's own parse limit (100)

std::size_t count_graph_nodes(Bytes graph, int depth);

std::size_t count_node(Bytes node, int depth) {
  std::size_t n = 1;
  wire::for_each_bytes_field(node, [&](std::uint64_t field, Bytes attribute) {
    if (field != 5) return true;
    return wire::for_each_bytes_field(attribute, [&](std::uint64_t f, Bytes sub) {
      if (f == 6 || f == 11) n += count_graph_nodes(sub, depth + 1);
      return true;
    });
  });
  return n;
}

std::size_t count_graph_nodes(Bytes graph, int depth) {
  std::size_t n = 0;
  if (depth > kMaxDepth) return n;
  wire::for_each_bytes_field(graph, [&](std::uint64_t field, Bytes node) {
    if (field == 1) n += count_node(node, depth + 1);
    return true;
  });
  return n;
}

std::string text(Bytes b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// The serialized StringStringEntryProto {key, value}, as a ModelProto.metadata_props field (tag included).
std::string metadata_field(const std::string& key, const std::string& value) {
  auto varint = [](std::string& out, std::uint64_t v) {
    while (v >= 0x80) {
      out.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out.push_back(static_cast<char>(v));
  };
  std::string entry;
  entry.push_back(static_cast<char>((1 << 3) | 2));
  varint(entry, key.size());
  entry += key;
  entry.push_back(static_cast<char>((2 << 3) | 2));
  varint(entry, value.size());
  entry += value;
  std::string field;
  field.push_back(static_cast<char>((14 << 3) | 2));
  varint(field, entry.size());
  return field + entry;
}

GraphOptimizationLevel to_ort(GraphOptimization level) {
  switch (level) {
    case GraphOptimization::kBasic: return ORT_ENABLE_BASIC;
    case GraphOptimization::kExtended: return ORT_ENABLE_EXTENDED;
    case GraphOptimization::kAll: return ORT_ENABLE_ALL;
    case GraphOptimization::kDisabled: break;
  }
  throw Error(ErrorCode::kInvalidArgument, "optimize: choose a level (basic, extended or all); disabled does nothing");
}

// A unique, empty file beside `out` ("<folder>/.<name>.XXXXXX"), failing early and clearly if the folder is not
// writable.
// Appends to `path` the metadata entries of `wanted` that ONNX Runtime's output lacks (appending fields to a
// serialized message is how protobuf merges, so the file stays valid).
void restore_metadata(const fs::path& path, const std::map<std::string, std::string>& wanted) {
  const auto present = model_file_stats(path).metadata;
  std::string extra;
  for (const auto& [key, value] : wanted) {
    if (!present.contains(key)) extra += metadata_field(key, value);
  }
  if (extra.empty()) return;
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  bool ok = fd >= 0;
  for (std::size_t done = 0; ok && done < extra.size();) {
    const ssize_t n = ::write(fd, extra.data() + done, extra.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<std::size_t>(n);
  }
  const int saved = errno;
  if (fd >= 0) ::close(fd);
  if (!ok) throw Error(ErrorCode::kIo, "cannot write " + path.string() + ": " + std::strerror(saved));
}

}  // namespace

ModelFileStats model_file_stats(const fs::path& model) {
  ModelFileStats stats;
  const wire::MappedFile file(model);
  const Bytes bytes = file.bytes();
  stats.bytes = bytes.size();
  wire::for_each_bytes_field(bytes, [&](std::uint64_t field, Bytes payload) {
    if (field == 7) {
      stats.nodes += count_graph_nodes(payload, 1);
    } else if (field == 25) {  // FunctionProto.node = 7
      wire::for_each_bytes_field(payload, [&](std::uint64_t f, Bytes node) {
        if (f == 7) stats.nodes += count_node(node, 2);
        return true;
      });
    } else if (field == 8) {  // opset_import: OperatorSetIdProto.domain = 1
      std::string domain;
      wire::for_each_bytes_field(payload, [&](std::uint64_t f, Bytes s) {
        if (f == 1) domain = text(s);
        return true;
      });
      if (!domain.empty() && domain != "ai.onnx") stats.domains.push_back(domain);
    } else if (field == 14) {
      std::string key, value;
      wire::for_each_bytes_field(payload, [&](std::uint64_t f, Bytes s) {
        if (f == 1) key = text(s);
        if (f == 2) value = text(s);
        return true;
      });
      stats.metadata[key] = value;
    }
    return true;
  });
  return stats;
}

void optimize_model(const fs::path& in, const fs::path& out, GraphOptimization level) {
  const GraphOptimizationLevel ort_level = to_ort(level);
  ort::version();  // binds the ONNX Runtime API (with a clear error when the library is too old)
  std::error_code ec;
  if (!fs::is_regular_file(in, ec)) throw Error(ErrorCode::kIo, "model file not found: " + in.string());
  if (fs::is_directory(out, ec)) {
    throw Error(ErrorCode::kInvalidArgument, "output " + out.string() + " is a folder; give a file name");
  }
  ort::check_external_data(in);
  const auto metadata = model_file_stats(in).metadata;

  // ONNX Runtime writes the optimised model to the temporary by name; restore_metadata appends to it; commit()
  // fsyncs and renames it over `out` (which may be `in`: the input stays whole until then).
  detail::AtomicFile file(out);
  const fs::path& temp = file.temp_path();
  {
    try {
      Ort::Env env(ORT_LOGGING_LEVEL_ERROR, "kprcnn-optimize");
      Ort::SessionOptions options;
      options.SetGraphOptimizationLevel(ort_level);
      options.SetOptimizedModelFilePath(temp.c_str());
      options.SetIntraOpNumThreads(1);
      Ort::Session session(env, in.c_str(), options);  // loading optimises and writes `temp`
    } catch (const Ort::Exception& e) {
      throw Error(ErrorCode::kModelLoad, "cannot optimize model " + in.string() + ": " + e.what());
    }
    if (fs::file_size(temp, ec) == 0 || ec) {
      throw Error(ErrorCode::kIo, "ONNX Runtime wrote no optimized model to " + temp.string());
    }
    restore_metadata(temp, metadata);
    fs::permissions(
        temp, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read, ec);
  }
  file.commit();
}

}  // namespace kprcnn

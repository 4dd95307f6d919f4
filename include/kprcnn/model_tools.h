// kprcnn/model_tools.h — offline tools on exported model files: graph optimisation (`kprcnn optimize`) and facts
// read from the file without loading it (`kprcnn info`, `kprcnn optimize`).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "kprcnn/detector.h"  // GraphOptimization

namespace kprcnn {

// Offline graph optimisation (`kprcnn optimize`): ONNX Runtime loads `in` at `level` and saves the optimised graph
// to `out` (a temporary file beside it, renamed into place when complete; `out` may equal `in`). kBasic applies
// only provider-independent rewrites (constant folding, redundant-node elimination) whose result still runs
// anywhere; kExtended and kAll may add ONNX Runtime-specific fused operators and CPU-specific layouts: the file is
// then tied to this machine's CPU and provider. The model's metadata (keypoint names, export options) is kept.
// Throws kInvalidArgument (kDisabled), kIo (missing input, unwritable folder) or kModelLoad (ONNX Runtime failed).
void optimize_model(const std::filesystem::path& in, const std::filesystem::path& out, GraphOptimization level);

// Facts about a model file, read without ONNX Runtime (a protobuf walk): its size and its number of graph nodes,
// subgraphs and functions included. A file that is not a valid model gives what was read before the damage.
struct ModelFileStats {
  std::uintmax_t bytes = 0;
  std::size_t nodes = 0;
  std::map<std::string, std::string> metadata;  // metadata_props
  std::vector<std::string> domains;             // operator domains beyond the standard one ("com.microsoft", ...)
};
ModelFileStats model_file_stats(const std::filesystem::path& model);

}  // namespace kprcnn

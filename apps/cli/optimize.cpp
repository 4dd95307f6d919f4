// kprcnn optimize: ONNX Runtime's offline graph optimisation of an exported model, with node count and size
// before and after.
#include <chrono>
#include <cstdio>

#include "commands.h"
#include "kprcnn/detector.h"
#include "kprcnn/model_tools.h"

namespace kprcnn::cli {

int run_optimize(const OptimizeArgs& args) {
  GraphOptimization level = GraphOptimization::kBasic;
  if (args.level == "extended") {
    level = GraphOptimization::kExtended;
  } else if (args.level == "all") {
    level = GraphOptimization::kAll;
  } else if (args.level != "basic") {
    throw Error(ErrorCode::kInvalidArgument, "--level must be basic, extended or all, got " + args.level);
  }
  if (level != GraphOptimization::kBasic) {
    std::fprintf(stderr,
                 "warning: --level %s may use ONNX Runtime-specific fused operators and CPU-specific layouts: the "
                 "result is tied to this machine's CPU and to ONNX Runtime's CPU provider. Use --level basic for "
                 "a model to ship.\n",
                 args.level.c_str());
  }
  const ModelFileStats before = model_file_stats(args.input);
  const auto started = std::chrono::steady_clock::now();
  optimize_model(args.input, args.output, level);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const ModelFileStats after = model_file_stats(args.output);
  std::printf("wrote %s (level %s, %.1f s)\n", args.output.c_str(), args.level.c_str(), seconds);
  std::printf("  nodes: %zu -> %zu\n", before.nodes, after.nodes);
  std::printf("  size:  %.1f MB -> %.1f MB\n", static_cast<double>(before.bytes) / 1e6,
              static_cast<double>(after.bytes) / 1e6);
  return 0;
}

}  // namespace kprcnn::cli

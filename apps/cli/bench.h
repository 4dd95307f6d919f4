// kprcnn bench: the predict pipeline timed stage by stage (decode, resize, tensor, session, postprocess, draw,
// encode), for one or several model/session variants measured interleaved in one process. bench/run_bench.py drives
// it (worker mode) next to the Python and PyTorch pipelines; see bench/RESULTS.md.
#pragma once

#include <CLI/CLI.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "commands.h"

namespace kprcnn::cli {

struct BenchArgs {
  std::filesystem::path model;
  // name=LABEL,model=PATH,engine=auto|ort|openvino,provider=..,precision=f32|bf16,spin=0|1,arena=0|1,threads=N,
  // cache=0|1,decode=full|dct,warmup=N,size=N
  // (repeatable; size: the variant's --size)
  std::vector<std::string> variants;
  std::vector<std::filesystem::path> images;
  int reps = 5;
  int warmup = 1;  // untimed runs per image and variant before the timed ones
  float threshold = 0.8f;
  int size = 512;
  int threads = 0;
  bool spin = false;
  bool no_cache = false;
  std::filesystem::path cache_dir;  // default: kprcnn::default_model_cache_dir()
  std::filesystem::path output;     // annotated PNG + JSON per run (default: a temporary folder, removed)
  std::filesystem::path json;       // every measurement as JSON
  std::filesystem::path profile;    // ONNX Runtime profile of the (single) variant
  bool worker = false;              // line protocol on stdin/stdout, for bench/run_bench.py
  EngineArgs engine;                // every variant's, unless engine=/provider=/precision= in --variant
};

CLI::App* add_bench_command(CLI::App& app, BenchArgs& args);
int run_bench(const BenchArgs& args);

}  // namespace kprcnn::cli

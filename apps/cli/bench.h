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
  // name=LABEL,model=PATH,spin=0|1,arena=0|1,pattern=0|1,cache=0|1,decode=full|dct,warmup=N, plus any option of
  // the library's table by name (engine=ort,threads=2,size=384,...); repeatable
  std::vector<std::string> variants;
  std::vector<std::filesystem::path> images;
  int reps = 5;
  int warmup = 1;  // untimed runs per image and variant before the timed ones
  // Every variant's options (the library's table: engine, threads, size, cache_dir, ...), unless its --variant
  // sets them.
  Options options = default_options();
  std::filesystem::path output;   // annotated PNG + JSON per run (default: a temporary folder, removed)
  std::filesystem::path json;     // every measurement as JSON
  std::filesystem::path profile;  // ONNX Runtime profile of the (single) variant
  bool worker = false;            // line protocol on stdin/stdout, for bench/run_bench.py
};

CLI::App* add_bench_command(CLI::App& app, BenchArgs& args);
int run_bench(const BenchArgs& args);

}  // namespace kprcnn::cli

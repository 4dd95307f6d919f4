// kprcnn — command-line front end: thin argument parsing over the library (see commands.h for exit codes).
#include <CLI/CLI.hpp>

#include <iostream>

#include "bench.h"
#include "commands.h"
#include "kprcnn/detector.h"
#include "options.h"
#include "serve.h"

int main(int argc, char** argv) {
  using namespace kprcnn::cli;
  CLI::App app{
      "kprcnn: Keypoint R-CNN (torchvision) on ONNX Runtime or OpenVINO — export, predict, eval, serve, bench"};
  app.set_version_flag("--version", std::string("kprcnn ") + kprcnn::version());
  app.require_subcommand(1);

  PredictArgs predict;
  auto* p = app.add_subcommand("predict", "Detect keypoints in an image or a folder of images");
  p->add_option("-m,--model", predict.model, "Exported model (.onnx)")->required();
  p->add_option("-i,--input", predict.input, "Image file (.jpg/.png) or folder of images")->required();
  p->add_option("-o,--output", predict.output, "Output folder: <name>.json and annotated <name>.png per image")
      ->required();
  add_options(p, predict.options,
              {kprcnn::OptionGroup::kDetector, kprcnn::OptionGroup::kPredict, kprcnn::OptionGroup::kDraw},
              {"concurrent_runs", "warm_up_runs"});
  p->add_flag("!--no-draw", predict.draw, "Write only the JSON, no annotated image");
  p->add_flag("-q,--quiet", predict.quiet, "No per-image progress lines");
  p->add_option("--coco", predict.coco,
                "Also write all detections as one COCO keypoint-results JSON file (image_id: numeric file stems, "
                "else 1-based position; see README)");

  InfoArgs info;
  auto* i = app.add_subcommand("info", "Show a model's inputs, outputs, keypoints and metadata, and ONNX Runtime");
  i->add_option("model", info.model, "Exported model (.onnx)")->required();
  i->add_option("--colormap", info.colormap, "Keypoint names/colours JSON; overrides the model metadata");

  EvalArgs eval;
  auto* ev = app.add_subcommand("eval", "COCO keypoint and box AP of a results file, computed as pycocotools does");
  ev->add_option("--annotations", eval.annotations, "COCO keypoint ground truth (JSON)")->required();
  ev->add_option("--results", eval.results, "Results to score (what `kprcnn predict --coco` writes)");
  ev->add_option("-m,--model", eval.model, "Run this model (.onnx) on the ground truth's images instead");
  ev->add_option("--images", eval.images, "With --model: the folder holding the ground truth's file_names");
  // --min-score is the predict threshold here (the table's "threshold"); eval's own --threshold is the operating
  // point of its stats.
  ev->add_option_function<std::string>(
        "--min-score",
        [&eval](const std::string& v) {
          try {
            kprcnn::set_option(eval.options, "threshold", v);
          } catch (const kprcnn::Error& e) {
            throw CLI::ValidationError(e.what());
          }
        },
        "With --model: detections scored for AP are those scoring above this (the operating point is --threshold)")
      ->default_str("0.05");
  eval.options.predict.threshold = 0.05f;
  add_options(ev, eval.options, {kprcnn::OptionGroup::kDetector, kprcnn::OptionGroup::kPredict},
              {"threshold", "concurrent_runs", "warm_up_runs"}, "With --model: ");
  ev->add_option("--write-results", eval.write_results,
                 "With --model: also write the model's detections as a COCO results file");
  ev->add_flag("-q,--quiet", eval.quiet, "With --model: no progress line");
  ev->add_option("--sigmas", eval.sigmas,
                 "OKS sigmas s1,...,sK (default: the category's kprcnn_oks_sigmas, else COCO's for K = 17, else 0.05)");
  ev->add_option("--threshold", eval.threshold,
                 "Operating point: precision, recall, F1, keypoint error and PCK of detections scoring above it")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  ev->add_option("--json", eval.json, "Also write the stats to this JSON file");

  OptimizeArgs optimize;
  auto* o = app.add_subcommand("optimize", "ONNX Runtime offline graph optimisation of an exported model");
  o->add_option("input", optimize.input, "Exported model (.onnx)")->required()->check(CLI::ExistingFile);
  o->add_option("output", optimize.output, "Optimised model to write (.onnx)")->required();
  o->add_option("--level", optimize.level,
                "basic: portable, provider-independent rewrites; extended/all: tied to this CPU and provider")
      ->capture_default_str()
      ->check(CLI::IsMember({"basic", "extended", "all"}));

  // Subcommands run in Python: everything after their name goes there, --help included.
  const auto add_python_command = [&app](const char* name, const char* description) {
    auto* command = app.add_subcommand(name, description);
    command->prefix_command();
    command->set_help_flag();
    command->allow_extras();
    return command;
  };
  auto* e = add_python_command("export",
                               "Export a PyTorch checkpoint to ONNX (runs the Python exporter; see `kprcnn export "
                               "--help`)");
  auto* qz = add_python_command("quantize",
                                "INT8 model for the fast mode, calibrated on your images, accuracy printed (runs "
                                "ONNX Runtime's Python tooling; see `kprcnn quantize --help`)");
  auto* sy = add_python_command("synth",
                                "Write synthetic face scenes and their COCO keypoint annotations (see `kprcnn synth "
                                "--help`)");
  auto* tr = add_python_command("train",
                                "Train a torchvision Keypoint R-CNN on a COCO keypoint dataset into a training folder "
                                "(runs PyTorch; see `kprcnn train --help`)");

  kprcnn::server::ServerOptions serve_options;
  auto* sv = add_serve_command(app, serve_options);

  TritonRepoArgs triton;
  auto* tq = app.add_subcommand("triton-repo", "Write a Triton Inference Server model repository for a model");
  tq->add_option("model", triton.model, "Exported model (.onnx)")->required();
  tq->add_option("out_dir", triton.out_dir, "Model repository folder")->required();
  tq->add_option("--name", triton.name, "Model name (default: the model file's stem)");
  tq->add_option("--instances", triton.instances, "Triton instance_group count (CPU)")->capture_default_str();
  tq->add_flag("--force", triton.force, "Replace an existing non-empty OUT_DIR/<name>");

  BenchArgs bench;
  auto* b = add_bench_command(app, bench);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& err) {
    const int code = app.exit(err);
    return code == 0 ? 0 : 2;
  } catch (const kprcnn::Error& err) {  // an option value the library refused with its own code (options.h)
    return report(err);
  }
  try {
    if (*p) return run_predict(predict);
    if (*i) return run_info(info);
    if (*o) return run_optimize(optimize);
    if (*ev) return run_eval(eval);
    if (*e) return run_export(e->remaining());
    if (*qz) return run_quantize(qz->remaining());
    if (*sy) return run_synth(sy->remaining());
    if (*tr) return run_train(tr->remaining());
    if (*sv) return kprcnn::server::serve(serve_options);
    if (*b) return run_bench(bench);
    if (*tq) return run_triton_repo(triton);
  } catch (const kprcnn::Error& err) {
    return report(err);
  } catch (const std::exception& err) {
    std::cerr << "error: internal: " << err.what() << "\n";
    return 70;
  }
  return 2;
}

// kprcnn predict: image or folder in, <name>.json (+ annotated <name>.png) out.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <system_error>

#include "coco.h"
#include "commands.h"
#include "kprcnn/kprcnn.h"
#include "pipeline.h"

namespace kprcnn::cli {
namespace fs = std::filesystem;
namespace {

bool is_image_name(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

std::vector<fs::path> collect_inputs(const fs::path& input) {
  std::error_code ec;
  if (fs::is_directory(input, ec)) {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(input, ec)) {
      if (is_image_name(entry.path()) && !entry.is_directory()) files.push_back(entry.path());
    }
    if (ec) throw Error(ErrorCode::kIo, "cannot list folder " + input.string() + ": " + ec.message());
    std::sort(files.begin(), files.end());
    if (files.empty()) {
      throw Error(ErrorCode::kInvalidArgument, "no .jpg, .jpeg or .png files in folder " + input.string());
    }
    return files;
  }
  if (!fs::exists(input, ec)) throw Error(ErrorCode::kIo, "input not found: " + input.string());
  return {input};
}

// <stem> per input; when two inputs share a stem (a.jpg, a.png), those keep their extension (a.jpg, a.png).
std::vector<std::string> output_names(const std::vector<fs::path>& inputs) {
  std::map<std::string, int> count;
  for (const auto& p : inputs) ++count[p.stem().string()];
  std::vector<std::string> names;
  for (const auto& p : inputs) {
    names.push_back(count[p.stem().string()] > 1 ? p.filename().string() : p.stem().string());
  }
  return names;
}

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

int run_predict(const PredictArgs& args) {
  const std::vector<fs::path> inputs = collect_inputs(args.input);
  const std::vector<std::string> names = output_names(inputs);
  std::error_code ec;
  fs::create_directories(args.output, ec);
  if (ec || !fs::is_directory(args.output)) {
    throw Error(ErrorCode::kIo, "cannot create output folder " + args.output.string() + ": " +
                                    (ec ? ec.message() : std::string("a file of that name exists")));
  }

  std::vector<CocoImageResult> coco;  // --coco: every image's detections, written once at the end
  const std::vector<std::int64_t> coco_ids = args.coco.empty() ? std::vector<std::int64_t>() : coco_image_ids(inputs);
  if (!args.coco.empty()) check_coco_path(args.coco);

  const Options& options = args.options;
  if (options.fast_decode && args.draw) {
    throw Error(ErrorCode::kInvalidArgument,
                "--fast-decode decodes JPEGs at reduced size for the model only; add --no-draw (an annotated image "
                "needs the full decode anyway)");
  }
  auto t_load = std::chrono::steady_clock::now();
  const Detector detector(args.model, options.detector);
  if (!args.quiet) print_load(args.model, detector, ms_since(t_load));
  const std::string model_name = args.model.filename().string();

  // Folders run as a pipeline: image i+1 is decoded and image i-1 drawn and written while the model runs on
  // image i (pipeline.h). Per-image failures travel with the image and are reported in order; a model failure
  // (kInference, kInternal) stops the run.
  struct Item {
    std::size_t index = 0;
    ReducedImage image;
    Prediction result;
    std::optional<Error> error;
    std::chrono::steady_clock::time_point started;
  };
  auto load = [&](std::size_t i) {
    Item item;
    item.index = i;
    item.started = std::chrono::steady_clock::now();
    try {
      item.image = decode_for_model(read_file(inputs[i]), options, args.draw);
    } catch (const Error& e) {
      item.error = e;
    }
    return item;
  };
  auto infer = [&](Item& item) {
    if (item.error) return;
    try {
      item.result = detector.predict(item.image, options.predict);
    } catch (const Error& e) {
      // Model-level failures are not the image's fault: stop instead of failing every remaining image.
      if (e.code() == ErrorCode::kInference || e.code() == ErrorCode::kInternal) throw;
      item.error = e;
    }
  };
  int failed = 0;
  ErrorCode first_error = ErrorCode::kInternal;
  auto store = [&](Item& item) {
    const std::size_t i = item.index;
    const fs::path& in = inputs[i];
    try {
      if (item.error) throw *item.error;
      const Prediction& result = item.result;
      write_file_atomic(args.output / (names[i] + ".json"),
                        to_json(result, detector.colormap().keypoints, in.filename().string(), model_name));
      if (!args.coco.empty()) coco.push_back({coco_ids[i], result.detections});
      if (args.draw) {
        annotate(item.image.image, result, detector, options.draw);
        write_image(item.image.image, args.output / (names[i] + ".png"));
      }
      if (!args.quiet) {
        std::fprintf(stderr, "[%zu/%zu] %s: %zu detection%s (%dx%d, input %dx%d, model %.0f ms, total %.0f ms)\n",
                     i + 1, inputs.size(), in.filename().c_str(), result.detections.size(),
                     result.detections.size() == 1 ? "" : "s", result.width, result.height, result.input_width,
                     result.input_height, result.inference_ms, ms_since(item.started));
      }
    } catch (const Error& e) {
      if (failed++ == 0) first_error = e.code();
      std::fprintf(stderr, "[%zu/%zu] error: %s: %s\n", i + 1, inputs.size(), in.string().c_str(), e.what());
    }
    item.image = ReducedImage();  // release the pixels now, not when the queue slot is reused
  };
  const auto t_images = std::chrono::steady_clock::now();
  run_pipeline(inputs.size(), load, infer, store);
  const double images_s = ms_since(t_images) / 1000;
  if (!args.coco.empty()) {
    write_file_atomic(args.coco, to_coco_json(coco));
    if (!args.quiet) std::fprintf(stderr, "wrote COCO results of %zu images to %s\n", coco.size(), args.coco.c_str());
  }
  if (inputs.size() > 1 && !args.quiet) {
    std::fprintf(stderr, "done: %zu of %zu images written to %s in %.2f s (%.3f images/s)%s\n", inputs.size() - failed,
                 inputs.size(), args.output.c_str(), images_s, inputs.size() / images_s,
                 failed ? " (see errors above)" : "");
  }
  if (failed == 0) return 0;
  return inputs.size() == 1 ? exit_code(first_error) : 1;
}

}  // namespace kprcnn::cli

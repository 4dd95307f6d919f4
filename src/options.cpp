// The option table (kprcnn/options.h): one row per option, with its parser/setter and getter next to its help.
#include "kprcnn/options.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <system_error>

#include "kprcnn/error.h"

namespace kprcnn {
namespace {

// GraphOptimization's names, in enum order (the "optimization" row parses and prints them).
constexpr const char* kOptimizationNames[] = {"disabled", "basic", "extended", "all"};

struct Row {
  OptionInfo info;
  std::function<void(Options&, std::string_view)> set;  // value already checked against info's type and range
  std::function<std::string(const Options&)> get;
};

std::string format_float(float v) {
  char buffer[32];
  const auto r = std::to_chars(buffer, buffer + sizeof buffer, v);
  return std::string(buffer, r.ptr);
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

[[noreturn]] void bad_value(const OptionInfo& info, std::string_view value, const std::string& accepts) {
  throw Error(ErrorCode::kInvalidArgument,
              "option " + info.name + ": '" + std::string(value) + "' is not " + accepts + " (" + info.help + ")");
}

std::string range_text(const OptionInfo& info) {
  if (info.type == OptionType::kInt) {
    return "an integer in [" + std::to_string(static_cast<long long>(info.min)) + ", " +
           std::to_string(static_cast<long long>(info.max)) + "]";
  }
  return "a number in [" + format_float(static_cast<float>(info.min)) + ", " +
         format_float(static_cast<float>(info.max)) + "]";
}

double parse_number(const OptionInfo& info, std::string_view value) {
  double v = 0;
  const char* end = value.data() + value.size();
  const auto r = std::from_chars(value.data(), end, v);
  const bool integral = info.type != OptionType::kInt || v == std::floor(v);
  if (value.empty() || r.ec != std::errc() || r.ptr != end || !std::isfinite(v) || !integral || v < info.min ||
      v > info.max) {
    bad_value(info, value, range_text(info));
  }
  return v;
}

bool parse_bool(const OptionInfo& info, std::string_view value) {
  const std::string v = lower(value);
  if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
  if (v == "0" || v == "false" || v == "no" || v == "off") return false;
  bad_value(info, value, "a yes/no value (1/0, true/false, yes/no, on/off)");
}

OptionInfo number(std::string name, char short_flag, OptionGroup group, OptionType type, double min, double max,
                  std::string help) {
  OptionInfo info;
  info.name = std::move(name);
  info.short_flag = short_flag;
  info.group = group;
  info.type = type;
  info.min = min;
  info.max = max;
  info.help = std::move(help);
  return info;
}

OptionInfo plain(std::string name, OptionGroup group, OptionType type, std::string help,
                 std::vector<std::string> choices = {}) {
  OptionInfo info;
  info.name = std::move(name);
  info.group = group;
  info.type = type;
  info.help = std::move(help);
  info.choices = std::move(choices);
  return info;
}

std::vector<Row> make_rows() {
  using G = OptionGroup;
  using T = OptionType;
  std::vector<Row> rows;
  // Detector (load time).
  rows.push_back({plain("engine", G::kDetector, T::kText,
                        "inference engine: auto (OpenVINO for float models when available, else ONNX Runtime), ort, "
                        "openvino",
                        {"auto", "ort", "openvino"}),
                  [](Options& o, std::string_view v) { o.detector.engine = parse_engine(std::string(v)); },
                  [](const Options& o) { return std::string(to_string(o.detector.engine)); }});
  rows.push_back({plain("provider", G::kDetector, T::kText,
                        "ONNX Runtime execution provider: cpu, cuda, tensorrt (the GPU ones need ONNX Runtime's GPU "
                        "build)",
                        {"cpu", "cuda", "tensorrt"}),
                  [](Options& o, std::string_view v) { o.detector.provider = parse_provider(std::string(v)); },
                  [](const Options& o) { return std::string(to_string(o.detector.provider)); }});
  rows.push_back(
      {plain("precision", G::kDetector, T::kText,
             "OpenVINO inference precision: f32 (exact), bf16 (fast mode on CPUs with AMX or AVX-512 BF16)",
             {"f32", "bf16"}),
       [](Options& o, std::string_view v) { o.detector.precision = parse_precision(std::string(v)); },
       [](const Options& o) { return std::string(o.detector.precision == Precision::kBf16 ? "bf16" : "f32"); }});
  rows.push_back({number("threads", 0, G::kDetector, T::kInt, 0, 256, "inference threads per run (0: one per core)"),
                  [](Options& o, std::string_view v) { o.detector.intra_op_threads = std::stoi(std::string(v)); },
                  [](const Options& o) { return std::to_string(o.detector.intra_op_threads); }});
  rows.push_back({number("concurrent_runs", 0, G::kDetector, T::kInt, 1, 64,
                         "predict calls expected at once (OpenVINO streams; a server's workers)"),
                  [](Options& o, std::string_view v) { o.detector.concurrent_runs = std::stoi(std::string(v)); },
                  [](const Options& o) { return std::to_string(o.detector.concurrent_runs); }});
  rows.push_back(
      {plain("colormap", G::kDetector, T::kPath, "keypoint names/colours JSON; overrides the model metadata"),
       [](Options& o, std::string_view v) { o.detector.colormap = std::string(v); },
       [](const Options& o) { return o.detector.colormap.string(); }});
  rows.push_back({plain("cache_dir", G::kDetector, T::kPath,
                        "optimised-model cache folder ($XDG_CACHE_HOME/kprcnn or ~/.cache/kprcnn; \"\": no cache)"),
                  [](Options& o, std::string_view v) { o.detector.model_cache_dir = std::string(v); },
                  [](const Options& o) { return o.detector.model_cache_dir.string(); }});
  rows.push_back({plain("no_cache", G::kDetector, T::kBool, "do not load or write the optimised-model cache"),
                  [](Options& o, std::string_view v) {
                    if (v == "1")
                      o.detector.model_cache_dir.clear();
                    else if (o.detector.model_cache_dir.empty())
                      o.detector.model_cache_dir = default_model_cache_dir();
                  },
                  [](const Options& o) { return std::string(o.detector.model_cache_dir.empty() ? "1" : "0"); }});
  rows.push_back({number("warm_up_runs", 0, G::kDetector, T::kInt, 0, 100,
                         "model runs at load on a synthetic image (a server wants 1)"),
                  [](Options& o, std::string_view v) { o.detector.warm_up_runs = std::stoi(std::string(v)); },
                  [](const Options& o) { return std::to_string(o.detector.warm_up_runs); }});
  // Engine levers (bench/RESULTS.md measures them; the defaults are the measured best here).
  rows.push_back({number("inter_op_threads", 0, G::kDetector, T::kInt, 0, 256,
                         "ONNX Runtime threads between independent operators"),
                  [](Options& o, std::string_view v) { o.detector.inter_op_threads = std::stoi(std::string(v)); },
                  [](const Options& o) { return std::to_string(o.detector.inter_op_threads); }});
  rows.push_back(
      {plain("optimization", G::kDetector, T::kText,
             "ONNX Runtime graph optimisation at load: disabled, basic, extended, all",
             {"disabled", "basic", "extended", "all"}),
       [](Options& o, std::string_view v) {
         for (int i = 0; i < 4; ++i) {
           if (v == kOptimizationNames[i]) {
             o.detector.optimization = static_cast<GraphOptimization>(i);
             return;
           }
         }
         throw Error(ErrorCode::kInvalidArgument,
                     "option optimization: '" + std::string(v) + "' is not one of disabled, basic, extended, all");
       },
       [](const Options& o) { return std::string(kOptimizationNames[static_cast<int>(o.detector.optimization)]); }});
  rows.push_back(
      {plain("allow_spinning", G::kDetector, T::kBool, "let ONNX Runtime's threads busy-wait between operators"),
       [](Options& o, std::string_view v) { o.detector.allow_spinning = v == "1"; },
       [](const Options& o) { return std::string(o.detector.allow_spinning ? "1" : "0"); }});
  rows.push_back({plain("cpu_memory_arena", G::kDetector, T::kBool, "ONNX Runtime's CPU memory arena"),
                  [](Options& o, std::string_view v) { o.detector.cpu_memory_arena = v == "1"; },
                  [](const Options& o) { return std::string(o.detector.cpu_memory_arena ? "1" : "0"); }});
  rows.push_back({plain("memory_pattern", G::kDetector, T::kBool,
                        "ONNX Runtime's memory pattern (one planned block per run; more peak memory here)"),
                  [](Options& o, std::string_view v) { o.detector.memory_pattern = v == "1"; },
                  [](const Options& o) { return std::string(o.detector.memory_pattern ? "1" : "0"); }});
  rows.push_back({plain("profile_file", G::kDetector, T::kPath,
                        "write ONNX Runtime's per-operator profile (JSON) here when the detector is destroyed"),
                  [](Options& o, std::string_view v) { o.detector.profile_file = std::string(v); },
                  [](const Options& o) { return o.detector.profile_file.string(); }});
  // Predict (per image).
  rows.push_back({number("threshold", 't', G::kPredict, T::kFloat, 0, 1, "keep detections with score > threshold"),
                  [](Options& o, std::string_view v) { o.predict.threshold = std::stof(std::string(v)); },
                  [](const Options& o) { return format_float(o.predict.threshold); }});
  rows.push_back({number("size", 's', G::kPredict, T::kInt, 16, 4096, "shorter side of the model input in pixels"),
                  [](Options& o, std::string_view v) { o.predict.size = std::stoi(std::string(v)); },
                  [](const Options& o) { return std::to_string(o.predict.size); }});
  rows.push_back({number("divisor", 0, G::kPredict, T::kInt, 1, 256,
                         "round input sides down to a multiple of this (the recipe's resize_img)"),
                  [](Options& o, std::string_view v) { o.predict.divisor = std::stoi(std::string(v)); },
                  [](const Options& o) { return std::to_string(o.predict.divisor); }});
  rows.push_back({plain("fast_decode", G::kPredict, T::kBool,
                        "fast mode, without an annotated image: decode JPEGs at 1/2, 1/4 or 1/8 size (libjpeg DCT "
                        "scaling) when still >= size; faster on big photos, but not Pillow's pixels"),
                  [](Options& o, std::string_view v) { o.fast_decode = v == "1"; },
                  [](const Options& o) { return std::string(o.fast_decode ? "1" : "0"); }});
  // Draw.
  rows.push_back(
      {number("radius", 0, G::kDraw, T::kFloat, 0, 1000, "keypoint circle radius in pixels (0: scales with the image)"),
       [](Options& o, std::string_view v) { o.draw.radius = std::stof(std::string(v)); },
       [](const Options& o) { return format_float(o.draw.radius); }});
  rows.push_back({plain("boxes", G::kDraw, T::kBool, "also draw detection boxes"),
                  [](Options& o, std::string_view v) { o.draw.boxes = v == "1"; },
                  [](const Options& o) { return std::string(o.draw.boxes ? "1" : "0"); }});

  const Options defaults = default_options();
  for (Row& row : rows) {
    row.info.default_value = row.get(defaults);
    // The cache folder's default depends on $HOME: list it by its rule, not this process's value.
    if (row.info.name == "cache_dir") row.info.default_value = "";
  }
  return rows;
}

const std::vector<Row>& rows() {
  static const std::vector<Row> table = make_rows();
  return table;
}

std::string normal_name(std::string_view name) {
  std::string n(name);
  std::replace(n.begin(), n.end(), '-', '_');
  return n;
}

const Row& row(std::string_view name) {
  const std::string n = normal_name(name);
  for (const Row& r : rows()) {
    if (r.info.name == n) return r;
  }
  std::string names;
  for (const Row& r : rows()) names += (names.empty() ? "" : ", ") + r.info.name;
  throw Error(ErrorCode::kInvalidArgument, "unknown option '" + std::string(name) + "' (options: " + names + ")");
}

}  // namespace

Options default_options() {
  Options o;
  o.detector.model_cache_dir = default_model_cache_dir();
  return o;
}

const std::vector<OptionInfo>& option_list() {
  static const std::vector<OptionInfo> list = [] {
    std::vector<OptionInfo> out;
    for (const Row& r : rows()) out.push_back(r.info);
    return out;
  }();
  return list;
}

const OptionInfo* find_option(std::string_view name) {
  const std::string n = normal_name(name);
  for (const OptionInfo& info : option_list()) {
    if (info.name == n) return &info;
  }
  return nullptr;
}

void set_option(Options& options, std::string_view name, std::string_view value) {
  const Row& r = row(name);
  switch (r.info.type) {
    case OptionType::kFloat:
    case OptionType::kInt: parse_number(r.info, value); break;
    case OptionType::kBool: value = parse_bool(r.info, value) ? "1" : "0"; break;
    case OptionType::kText:
    case OptionType::kPath: break;  // engine names are checked by parse_engine & co.
  }
  r.set(options, value);
}

std::string get_option(const Options& options, std::string_view name) {
  return row(name).get(options);
}

}  // namespace kprcnn

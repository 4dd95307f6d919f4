// kprcnn/options.h — every detector, predict and draw option, declared once for every front end.
//
// Each option has one snake_case name. The CLI's flag is --name with '-' for '_' (--no-cache), the server's
// query parameter and the Python module's keyword argument are the name itself. Values arrive as text (command
// lines, query strings; the Python module formats its arguments) and are parsed and range-checked here, so every
// front end accepts the same values, rejects the same ones with the same message, and shows the same defaults.
//
// Where a new option goes: a field in DetectorOptions / PredictOptions / DrawOptions (or Options), then one row in
// src/options.cpp's table. The CLI (apps/cli/options.cpp), `kprcnn serve` and the Python module pick it up from
// there; a front end that does not offer an option (a server request cannot change the engine) filters by group.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "kprcnn/detector.h"
#include "kprcnn/draw.h"

namespace kprcnn {

enum class OptionGroup {
  kDetector,  // fixed when the model loads (Detector constructor): engine, threads, cache, colormap, ...
  kPredict,   // per image: threshold, size, divisor, fast_decode
  kDraw,      // the annotated image: radius, boxes
};

// The three option sets a front end carries, plus the decode choice of the shared pipeline (pipeline.h).
struct Options {
  DetectorOptions detector;
  PredictOptions predict;
  DrawOptions draw;
  // JPEGs decoded at reduced size for the model (decode_image_reduced; fast mode, no annotated image).
  bool fast_decode = false;
};

// What every front end starts from: the library's defaults with the optimised-model cache on
// (detector.model_cache_dir = default_model_cache_dir()).
Options default_options();

enum class OptionType { kFloat, kInt, kBool, kText, kPath };

struct OptionInfo {
  std::string name;     // "threshold"
  char short_flag = 0;  // the CLI's one-letter alias ('t'), or 0
  OptionGroup group = OptionGroup::kPredict;
  OptionType type = OptionType::kText;
  std::string help;                  // one line, for --help and docs
  std::string default_value;         // default_options()'s value as text ("0.8"); "" for an empty path
  double min = 0, max = 0;           // kFloat / kInt: the accepted range, inclusive
  std::vector<std::string> choices;  // kText with a fixed set of values ("auto", "ort", "openvino")
};

// Every option, in the order front ends list them.
const std::vector<OptionInfo>& option_list();
// The option named `name` ('-' and '_' alike), or nullptr.
const OptionInfo* find_option(std::string_view name);

// Parses `value` and sets the option. kBool accepts 1/0, true/false, yes/no, on/off. Throws kInvalidArgument
// naming the option and what it accepts (unknown name: the list of names), or kEngineUnavailable for an unknown
// engine, provider or precision name (as parse_engine etc.).
void set_option(Options& options, std::string_view name, std::string_view value);
// The option's current value as text (the format set_option reads).
std::string get_option(const Options& options, std::string_view name);

}  // namespace kprcnn

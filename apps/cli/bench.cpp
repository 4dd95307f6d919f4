// kprcnn bench: see bench.h.
#include "bench.h"

#include <sys/resource.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "commands.h"
#include "kprcnn/kprcnn.h"
#include "options.h"

namespace kprcnn::cli {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

constexpr const char* kStages[] = {"decode", "resize", "tensor", "session", "postprocess", "draw", "encode", "total"};
constexpr std::size_t kStageCount = std::size(kStages);

// A variant: the command line's options (the library's table) with its --variant keys applied. Keys that are
// table options (engine, provider, precision, threads, size, ...) go through kprcnn::set_option like the flags;
// the bench-only keys (ONNX Runtime session levers, cache on/off, decode) are parsed here.
struct Variant {
  std::string name = "kprcnn";
  fs::path model;
  Options options;
  std::unique_ptr<Detector> detector;
};

// cache=1: the --cache-dir given, else the default folder.
fs::path cache_dir(const BenchArgs& args) {
  return args.options.detector.model_cache_dir.empty() ? default_model_cache_dir()
                                                       : args.options.detector.model_cache_dir;
}

Variant parse_variant(const std::string& spec, const BenchArgs& args) {
  Variant v;
  v.model = args.model;
  v.options = args.options;
  std::stringstream in(spec);
  std::string item;
  while (std::getline(in, item, ',')) {
    const auto eq = item.find('=');
    if (eq == std::string::npos) throw Error(ErrorCode::kInvalidArgument, "--variant item without '=': " + item);
    const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    auto integer = [&](int lo, int hi) {
      int n = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || end != value.data() + value.size() || n < lo || n > hi) {
        throw Error(ErrorCode::kInvalidArgument, "--variant " + key + " takes an integer in " + std::to_string(lo) +
                                                     ".." + std::to_string(hi) + ", got '" + value + "'");
      }
      return n;
    };
    auto flag = [&] {
      if (value != "0" && value != "1") {
        throw Error(ErrorCode::kInvalidArgument, "--variant " + key + " takes 0 or 1, got " + value);
      }
      return value == "1";
    };
    DetectorOptions& d = v.options.detector;
    if (key == "name") {
      v.name = value;
    } else if (key == "model") {
      v.model = value;
    } else if (key == "spin") {
      d.allow_spinning = flag();
    } else if (key == "arena") {
      d.cpu_memory_arena = flag();
    } else if (key == "pattern") {
      d.memory_pattern = flag();
    } else if (key == "cache") {
      d.model_cache_dir = flag() ? cache_dir(args) : fs::path();
    } else if (key == "warmup") {
      d.warm_up_runs = integer(0, 1000);
    } else if (key == "decode") {
      if (value != "full" && value != "dct") {
        throw Error(ErrorCode::kInvalidArgument, "--variant decode is full or dct, got " + value);
      }
      v.options.fast_decode = value == "dct";
    } else if (find_option(key)) {
      set_option(v.options, key, value);
    } else {
      std::string table;
      for (const OptionInfo& o : option_list()) table += ", " + o.name;
      throw Error(ErrorCode::kInvalidArgument, "unknown --variant key '" + key +
                                                   "' (name, model, spin, arena, pattern, cache, warmup, decode" +
                                                   table + ")");
    }
  }
  if (v.model.empty()) throw Error(ErrorCode::kInvalidArgument, "no model: give --model or model= in --variant");
  return v;
}

void load(Variant& v, const BenchArgs& args, bool profile) {
  DetectorOptions o = v.options.detector;
  if (profile) o.profile_file = args.profile;
  v.detector = std::make_unique<Detector>(v.model, o);
}

long peak_rss_kb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;  // Linux: kilobytes
}

struct Run {
  double stage[kStageCount] = {};
  Prediction prediction;
};

// One pass of `kprcnn predict` for one image, timed per stage. out_stem: where the PNG and JSON go ("" = nowhere,
// still encoded).
Run run_once(const Variant& v, const fs::path& image_path, const fs::path& out_stem) {
  Run r;
  const auto start = Clock::now();
  auto t = start;
  // The shared pipeline's stages (kprcnn/pipeline.h), timed one by one.
  const bool reduced = v.options.fast_decode;
  ReducedImage image = decode_for_model(read_file(image_path), v.options, /*annotate=*/!reduced);
  r.stage[0] = ms_since(t);
  r.prediction = v.detector->predict(image, v.options.predict);
  r.stage[1] = r.prediction.resize_ms;
  r.stage[2] = r.prediction.preprocess_ms - r.prediction.resize_ms;
  r.stage[3] = r.prediction.inference_ms;
  r.stage[4] = r.prediction.postprocess_ms;
  // decode=dct is the JSON-only path (`predict --no-draw`, a server answering JSON): the full image is never
  // decoded, so there is nothing to draw on.
  t = Clock::now();
  if (!reduced) annotate(image.image, r.prediction, *v.detector, v.options.draw);
  r.stage[5] = ms_since(t);
  t = Clock::now();
  const std::string json = to_json(r.prediction, v.detector->colormap().keypoints, image_path.filename().string(),
                                   v.model.filename().string());
  const std::vector<std::uint8_t> png = reduced ? std::vector<std::uint8_t>() : encode_png(image.image);
  if (!out_stem.empty()) {
    if (!reduced) write_file_atomic(fs::path(out_stem.string() + ".png"), png);
    write_file_atomic(fs::path(out_stem.string() + ".json"), json);
  }
  r.stage[6] = ms_since(t);
  r.stage[7] = ms_since(start);
  return r;
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const double k = (v.size() - 1) * q;
  const std::size_t lo = static_cast<std::size_t>(k), hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (k - lo);
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string stages_json(const Run& r) {
  std::string out = "{";
  for (std::size_t s = 0; s < kStageCount; ++s) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s\"%s\": %.3f", s ? ", " : "", kStages[s], r.stage[s]);
    out += buf;
  }
  return out + "}";
}

std::string load_json(const Variant& v) {
  const LoadReport& l = v.detector->load_report();
  char buf[160];
  std::snprintf(buf, sizeof buf, "\"load_ms\": %.1f, \"warm_up_ms\": %.1f, \"cache_hit\": %s, ", l.load_ms,
                l.warm_up_ms, l.cache_hit ? "true" : "false");
  return buf + std::string("\"cache_file\": ") + json_string(l.cache_file.string()) +
         ", \"cache_note\": " + json_string(l.cache_note) + ", \"engine\": " + json_string(l.engine_description);
}

// Line protocol for bench/run_bench.py: a "ready" line after loading, then per input line "IMAGE<TAB>OUT_STEM"
// one result line; "quit" or end of input ends it with an "exit" line carrying the peak RSS.
int run_worker(Variant& v, const BenchArgs& args) {
  load(v, args, !args.profile.empty());
  std::cout << "{\"event\": \"ready\", " << load_json(v) << ", \"peak_rss_kb\": " << peak_rss_kb() << "}" << std::endl;
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line == "quit") break;
    if (line.empty()) continue;
    const auto tab = line.find('\t');
    const fs::path image = line.substr(0, tab);
    const fs::path stem = tab == std::string::npos ? fs::path() : fs::path(line.substr(tab + 1));
    try {
      const Run r = run_once(v, image, stem);
      std::cout << "{\"event\": \"run\", \"stages\": " << stages_json(r) << ", \"input\": [" << r.prediction.input_width
                << ", " << r.prediction.input_height << "], \"result\": "
                << to_json(r.prediction, v.detector->colormap().keypoints, image.filename().string(),
                           v.model.filename().string(), -1)
                << "}" << std::endl;
    } catch (const Error& e) {
      std::cout << "{\"event\": \"error\", \"message\": " << json_string(e.what()) << "}" << std::endl;
    }
  }
  v.detector.reset();  // writes the profile, if any
  std::cout << "{\"event\": \"exit\", \"peak_rss_kb\": " << peak_rss_kb() << "}" << std::endl;
  return 0;
}

}  // namespace

CLI::App* add_bench_command(CLI::App& app, BenchArgs& args) {
  auto* b = app.add_subcommand("bench",
                               "Time the predict pipeline stage by stage (decode, resize, tensor, session, "
                               "postprocess, draw, encode); several --variant are measured interleaved");
  b->add_option("-m,--model", args.model, "Exported model (.onnx); or model= in each --variant");
  b->add_option("--variant", args.variants,
                "name=LABEL,model=PATH,spin=0|1,arena=0|1,pattern=0|1,cache=0|1,warmup=N,decode=full|dct, and any "
                "option below by name (engine=ort,threads=2,size=384,...); repeatable; unset keys take the options "
                "below");
  b->add_option("-i,--image", args.images, "Image files (.jpg/.png), repeatable")->check(CLI::ExistingFile);
  b->add_option("--reps", args.reps, "Timed runs per image and variant")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  b->add_option("--warmup", args.warmup, "Untimed runs per image and variant first")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000));
  add_options(b, args.options, {OptionGroup::kDetector, OptionGroup::kPredict, OptionGroup::kDraw}, {"profile_file"});
  b->add_option("-o,--output", args.output, "Write each run's annotated PNG and JSON here");
  b->add_option("--json", args.json, "Write every measurement to this JSON file");
  b->add_option("--profile", args.profile, "Write ONNX Runtime's per-operator profile (JSON) here (one variant)");
  b->add_flag("--worker", args.worker, "Line protocol on stdin/stdout (used by bench/run_bench.py)");
  return b;
}

int run_bench(const BenchArgs& args) {
  std::vector<Variant> variants;
  if (args.variants.empty()) {
    variants.push_back(parse_variant("", args));
  } else {
    for (const auto& spec : args.variants) variants.push_back(parse_variant(spec, args));
  }
  if (!args.profile.empty() && variants.size() != 1) {
    throw Error(ErrorCode::kInvalidArgument, "--profile needs exactly one variant");
  }
  if (args.worker) {
    if (variants.size() != 1) throw Error(ErrorCode::kInvalidArgument, "--worker runs exactly one variant");
    return run_worker(variants.front(), args);
  }
  if (args.images.empty()) throw Error(ErrorCode::kInvalidArgument, "give at least one --image");
  if (!args.output.empty()) {
    std::error_code ec;
    fs::create_directories(args.output, ec);
  }
  for (auto& v : variants) {
    load(v, args, !args.profile.empty());
    const LoadReport& l = v.detector->load_report();
    std::fprintf(stderr, "%s: loaded %s in %.0f ms (%s), %s\n", v.name.c_str(), v.model.filename().c_str(), l.load_ms,
                 l.cache_hit ? "optimised-model cache" : (l.cache_file.empty() ? "no cache" : "cache written"),
                 engine_line(l).c_str());
  }
  // runs[variant][image] = timed runs
  std::vector<std::vector<std::vector<Run>>> runs(variants.size(), std::vector<std::vector<Run>>(args.images.size()));
  auto out_stem = [&](std::size_t vi, std::size_t ii) {
    return args.output.empty() ? fs::path() : args.output / (variants[vi].name + "-" + args.images[ii].stem().string());
  };
  for (int rep = -args.warmup; rep < args.reps; ++rep) {
    for (std::size_t ii = 0; ii < args.images.size(); ++ii) {
      for (std::size_t vi = 0; vi < variants.size(); ++vi) {  // interleaved: load changes hit every variant alike
        Run r = run_once(variants[vi], args.images[ii], out_stem(vi, ii));
        if (rep >= 0) runs[vi][ii].push_back(std::move(r));
      }
    }
  }
  std::printf("%-12s %-22s %5s", "variant", "image", "dets");
  for (const char* s : kStages) std::printf(" %15s", s);
  std::printf("\n%-12s %-22s %5s", "", "", "");
  for (std::size_t s = 0; s < kStageCount; ++s) std::printf(" %15s", "median/p90 ms");
  std::printf("\n");
  std::string json = "{\"variants\": [";
  for (std::size_t vi = 0; vi < variants.size(); ++vi) {
    const Variant& v = variants[vi];
    json += std::string(vi ? ", " : "") + "{\"name\": " + json_string(v.name) +
            ", \"model\": " + json_string(v.model.string()) + ", " + load_json(v) + ", \"images\": [";
    for (std::size_t ii = 0; ii < args.images.size(); ++ii) {
      const auto& rs = runs[vi][ii];
      std::printf("%-12s %-22s %5zu", v.name.c_str(), args.images[ii].filename().c_str(),
                  rs.back().prediction.detections.size());
      json += std::string(ii ? ", " : "") + "{\"image\": " + json_string(args.images[ii].string()) + ", \"runs\": [";
      for (std::size_t k = 0; k < rs.size(); ++k) json += std::string(k ? ", " : "") + stages_json(rs[k]);
      json += "]}";
      for (std::size_t s = 0; s < kStageCount; ++s) {
        std::vector<double> values;
        for (const Run& r : rs) values.push_back(r.stage[s]);
        char cell[32];
        std::snprintf(cell, sizeof cell, "%.1f/%.1f", percentile(values, 0.5), percentile(values, 0.9));
        std::printf(" %15s", cell);
      }
      std::printf("\n");
    }
    json += "]}";
  }
  json += "], \"peak_rss_kb\": " + std::to_string(peak_rss_kb()) + "}\n";
  std::printf("peak RSS %.0f MB (all variants in one process)\n", peak_rss_kb() / 1024.0);
  for (auto& v : variants) v.detector.reset();  // writes the profile, if any
  if (!args.json.empty()) write_file_atomic(args.json, json);
  return 0;
}

}  // namespace kprcnn::cli

// kprcnn triton-repo: a Triton Inference Server model repository (onnxruntime backend) for an exported model:
// OUT_DIR/<name>/1/model.onnx (a copy) and OUT_DIR/<name>/config.pbtxt (inputs/outputs from the model, kprcnn's
// metadata as string parameters). Written into a temporary folder beside the target and renamed into place, so an
// error never leaves a half-written repository.
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

#include "../../src/atomic_file.h"
#include "commands.h"
#include "kprcnn/detector.h"

namespace kprcnn::cli {
namespace fs = std::filesystem;
namespace {

// A protobuf text-format string literal: quotes, backslashes and control / non-ASCII bytes escaped (octal).
std::string quote(const std::string& s) {
  std::string out = "\"";
  for (const unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\%03o", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string triton_type(const std::string& type) {
  static const std::pair<const char*, const char*> table[] = {
      {"float32", "TYPE_FP32"}, {"float16", "TYPE_FP16"},  {"float64", "TYPE_FP64"},  {"bfloat16", "TYPE_BF16"},
      {"int64", "TYPE_INT64"},  {"int32", "TYPE_INT32"},   {"int16", "TYPE_INT16"},   {"int8", "TYPE_INT8"},
      {"uint8", "TYPE_UINT8"},  {"uint16", "TYPE_UINT16"}, {"uint32", "TYPE_UINT32"}, {"uint64", "TYPE_UINT64"},
      {"bool", "TYPE_BOOL"},    {"string", "TYPE_STRING"}};
  for (const auto& [name, triton] : table) {
    if (type == name) return triton;
  }
  throw Error(ErrorCode::kModelContract, "tensor type " + type + " has no Triton equivalent");
}

std::string sanitise(const std::string& name) {
  std::string out;
  for (const char c : name) {
    out += (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.') ? c : '_';
  }
  if (out.empty() || out == "." || out == "..") out = "model";
  return out;
}

void tensors(std::string& out, const char* field, const std::vector<TensorInfo>& list) {
  out += std::string(field) + " [\n";
  for (std::size_t i = 0; i < list.size(); ++i) {
    const TensorInfo& t = list[i];
    out += "  {\n    name: " + quote(t.name) + "\n    data_type: " + triton_type(t.type) + "\n    dims: [ ";
    for (std::size_t d = 0; d < t.shape.size(); ++d) {
      out += (d ? ", " : "") + std::to_string(t.shape[d] < 0 ? -1 : t.shape[d]);
    }
    out += " ]\n  }" + std::string(i + 1 < list.size() ? "," : "") + "\n";
  }
  out += "]\n";
}

}  // namespace

std::string triton_config(const std::string& name, const ModelInfo& info, int instances) {
  std::string out = "# Written by kprcnn triton-repo (kprcnn " + std::string(version()) + ")\n";
  out += "name: " + quote(name) + "\nbackend: \"onnxruntime\"\nmax_batch_size: 0\n";
  tensors(out, "input", info.inputs);
  tensors(out, "output", info.outputs);
  out += "instance_group [ { count: " + std::to_string(instances) + ", kind: KIND_CPU } ]\n";
  std::vector<std::pair<std::string, std::string>> params(info.metadata.begin(), info.metadata.end());
  std::string missing;
  for (const char* key : {"kprcnn.colormap", "kprcnn.export_options"}) {
    if (!info.metadata.count(key)) missing += (missing.empty() ? "" : ",") + std::string(key);
  }
  if (!missing.empty()) params.emplace_back("kprcnn_missing", missing);
  for (const auto& [key, value] : params) {
    out += "parameters {\n  key: " + quote(key) + "\n  value: { string_value: " + quote(value) + " }\n}\n";
  }
  return out;
}

int run_triton_repo(const TritonRepoArgs& args) {
  if (args.instances < 1) throw Error(ErrorCode::kInvalidArgument, "--instances must be at least 1");
  std::error_code ec;
  if (!fs::is_regular_file(args.model, ec)) {
    throw Error(ErrorCode::kIo, "model " + args.model.string() + " does not exist or is not a file");
  }
  const std::string name = sanitise(args.name.empty() ? args.model.stem().string() : args.name);
  const fs::path target = args.out_dir / name;
  if (fs::exists(target, ec) && !(fs::is_directory(target, ec) && fs::is_empty(target, ec)) && !args.force) {
    throw Error(ErrorCode::kIo, target.string() + " exists and is not empty: use --force to replace it");
  }
  DetectorOptions options;
  options.engine = Engine::kOnnxRuntime;
  options.optimization = GraphOptimization::kBasic;  // only the graph's interface is read
  const Detector detector(args.model, options);      // kIo / kModelLoad / kModelContract for an unreadable model
  const std::string config = triton_config(name, detector.info(), args.instances);

  fs::create_directories(args.out_dir, ec);
  if (ec) throw Error(ErrorCode::kIo, "cannot create " + args.out_dir.string() + ": " + ec.message());
  const fs::path staging = args.out_dir / (".tmp-triton-" + name);
  fs::remove_all(staging, ec);
  try {
    fs::create_directories(staging / "1");
    {
      std::ifstream in(args.model, std::ios::binary);
      if (!in) throw Error(ErrorCode::kIo, "cannot read " + args.model.string());
      const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      detail::AtomicFile model(staging / "1" / "model.onnx");
      model.write(std::string_view(bytes.data(), bytes.size()));
      model.commit();
    }
    detail::AtomicFile file(staging / "config.pbtxt");
    file.write(config);
    file.commit();
    if (fs::exists(target)) fs::remove_all(target);
    fs::rename(staging, target);
  } catch (const fs::filesystem_error& e) {
    fs::remove_all(staging, ec);
    throw Error(ErrorCode::kIo, std::string("writing ") + target.string() + ": " + e.what());
  } catch (...) {
    fs::remove_all(staging, ec);
    throw;
  }
  std::printf("wrote %s (config.pbtxt, 1/model.onnx)\n", target.c_str());
  return 0;
}

}  // namespace kprcnn::cli

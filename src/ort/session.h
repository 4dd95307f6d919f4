// The only place that talks to ONNX Runtime (with optimize.cpp). The engine itself is created through
// engine::open_onnxruntime (engine.h); nothing here exposes an ONNX Runtime type.
#pragma once

#include <string>
#include <vector>

namespace kprcnn::ort {

std::string version();
std::vector<std::string> providers();

}  // namespace kprcnn::ort

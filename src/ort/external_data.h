// Guard against ONNX models whose tensors point at external data outside the model's folder
// ("location": "../../etc/passwd"): ONNX Runtime before 1.24 reads such files without complaint.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace kprcnn::ort {

// Every external-data "location" found in the serialized ModelProto (graph and subgraph initializers, node
// attribute tensors, sparse tensors, functions). A malformed protobuf yields what was found before the damage;
// ONNX Runtime reports the corruption itself.
std::vector<std::string> external_data_locations(std::span<const std::uint8_t> model_bytes);

// Throws kModelLoad when a location is absolute or resolves (symlinks followed) outside the model's folder.
void check_external_data(const std::filesystem::path& model);

}  // namespace kprcnn::ort

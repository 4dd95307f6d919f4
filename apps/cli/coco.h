// `kprcnn predict --coco`: the image ids of a run and the checks made before any image is processed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

namespace kprcnn::cli {

// image_id per input, in order: the file stem as an integer when every stem is a decimal number and no two are
// equal (COCO's 000000397133.jpg -> 397133), otherwise the 1-based position of the image in the run (inputs are
// sorted by name).
std::vector<std::int64_t> coco_image_ids(const std::vector<std::filesystem::path>& inputs);

// Throws kIo unless a file can be created at `path` (its folder exists and it is not itself a folder), so that
// a bad --coco path fails before the images are processed.
void check_coco_path(const std::filesystem::path& path);

}  // namespace kprcnn::cli

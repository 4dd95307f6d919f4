#include "coco.h"

#include <charconv>
#include <set>
#include <string>
#include <system_error>

#include "kprcnn/error.h"

namespace kprcnn::cli {
namespace fs = std::filesystem;

std::vector<std::int64_t> coco_image_ids(const std::vector<fs::path>& inputs) {
  std::vector<std::int64_t> ids;
  std::set<std::int64_t> seen;
  for (const auto& input : inputs) {
    const std::string stem = input.stem().string();
    std::int64_t id = 0;
    const auto [end, ec] = std::from_chars(stem.data(), stem.data() + stem.size(), id);
    const bool numeric = !stem.empty() && ec == std::errc() && end == stem.data() + stem.size() && id >= 0;
    if (!numeric || !seen.insert(id).second) {
      ids.clear();
      for (std::size_t i = 0; i < inputs.size(); ++i) ids.push_back(static_cast<std::int64_t>(i) + 1);
      return ids;
    }
    ids.push_back(id);
  }
  return ids;
}

void check_coco_path(const fs::path& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    throw Error(ErrorCode::kIo, "--coco " + path.string() + " is a folder; give a file name such as results.json");
  }
  const fs::path folder = path.has_parent_path() ? path.parent_path() : fs::path(".");
  if (!fs::is_directory(folder, ec)) {
    throw Error(ErrorCode::kIo, "--coco: folder " + folder.string() + " does not exist; create it first");
  }
}

}  // namespace kprcnn::cli

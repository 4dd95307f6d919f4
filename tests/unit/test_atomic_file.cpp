// detail::AtomicFile (src/atomic_file.h): the one temporary-then-rename writer behind write_file_atomic, the model
// cache and `kprcnn optimize`.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "atomic_file.h"
#include "kprcnn/error.h"

namespace fs = std::filesystem;
using kprcnn::detail::AtomicFile;

namespace {

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::path(KPRCNN_TEST_TMP_DIR) / ("atomic-" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::size_t count_files(const fs::path& dir) {
  return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

TEST(AtomicFile, TargetChangesOnlyAtCommit) {
  const fs::path dir = fresh_dir("commit");
  const fs::path target = dir / "out.json";
  std::ofstream(target) << "old";
  AtomicFile file(target);
  EXPECT_EQ(file.temp_path().parent_path(), dir);
  EXPECT_EQ(file.temp_path().filename().string().rfind(".tmp-", 0), 0u) << "the cache's eviction knows the prefix";
  file.write(std::string_view("new contents"));
  EXPECT_EQ(slurp(target), "old");  // readers still see the old file
  file.commit();
  EXPECT_EQ(slurp(target), "new contents");
  EXPECT_EQ(count_files(dir), 1u);  // no temporary left
}

TEST(AtomicFile, AbandonedWriteLeavesTargetAndNoTemporary) {
  const fs::path dir = fresh_dir("abandon");
  const fs::path target = dir / "model.onnx";
  std::ofstream(target) << "keep me";
  {
    AtomicFile file(target, AtomicFile::Durability::kCache);
    file.write(std::string_view("half"));
    EXPECT_TRUE(fs::exists(file.temp_path()));
  }  // destroyed without commit: an exception between write and commit lands here
  EXPECT_EQ(slurp(target), "keep me");
  EXPECT_EQ(count_files(dir), 1u);
}

TEST(AtomicFile, ByNameWriterThenCommit) {
  // ONNX Runtime writes the temporary by its name (SetOptimizedModelFilePath), then the caller commits.
  const fs::path dir = fresh_dir("by-name");
  AtomicFile file(dir / "entry.onnx", AtomicFile::Durability::kCache);
  std::ofstream(file.temp_path(), std::ios::binary | std::ios::trunc) << "written elsewhere";
  file.commit();
  EXPECT_EQ(slurp(dir / "entry.onnx"), "written elsewhere");
}

TEST(AtomicFile, MissingFolderIsIoErrorNamingIt) {
  const fs::path dir = fresh_dir("missing");
  try {
    AtomicFile file(dir / "no" / "such" / "x.png");
    FAIL() << "created a temporary in a missing folder";
  } catch (const kprcnn::Error& e) {
    EXPECT_EQ(e.code(), kprcnn::ErrorCode::kIo);
    EXPECT_NE(std::string(e.what()).find("exist?"), std::string::npos) << e.what();
  }
}

}  // namespace

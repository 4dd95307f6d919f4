// The optimised-model cache's keys and housekeeping (src/ort/model_cache.h). That a cached model gives the same
// detections is checked end to end: tests/python/test_cli.py (tiny models) and tests/model (the real export).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "cache/model_cache.h"

namespace {

namespace fs = std::filesystem;
using kprcnn::cache::cache_entry;

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::path(KPRCNN_TEST_TMP_DIR) / "model-cache" / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write(const fs::path& p, const std::string& contents) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << contents;
}

std::uint64_t hash_of(const std::string& s) {
  return kprcnn::cache::xxh64({reinterpret_cast<const std::uint8_t*>(s.data()), s.size()});
}

TEST(ModelCache, Xxh64MatchesReferenceVectors) {
  EXPECT_EQ(hash_of(""), 0xEF46DB3751D8E999ULL);
  EXPECT_EQ(hash_of("a"), 0xD24EC4F1A98C6E5BULL);
  EXPECT_EQ(hash_of("abc"), 0x44BC2CF5AD770999ULL);
  EXPECT_EQ(hash_of("Nobody inspects the spammish repetition"), 0xFBCEA83C8A378BF1ULL);  // > 32 bytes
}

TEST(ModelCache, EntryFollowsContentRuntimeAndLevel) {
  const fs::path dir = fresh_dir("key");
  const fs::path model = dir / "hands.onnx";
  std::string bytes(3 << 20, 'x');  // spans several read blocks... and a change in the middle of it
  write(model, bytes);
  const fs::path a = cache_entry(dir / "cache", model, "1.22.0", 3);
  EXPECT_EQ(a.parent_path(), dir / "cache");
  EXPECT_EQ(a.filename().string().rfind("hands-", 0), 0u) << a;
  EXPECT_EQ(a.extension(), ".onnx");
  EXPECT_EQ(cache_entry(dir / "cache", model, "1.22.0", 3), a);  // stable

  // Same size, same modification time, one byte changed in the middle: a different entry. (The file's ctime
  // moves with the write; the pause keeps it off the previous write's kernel clock tick.)
  const auto mtime = fs::last_write_time(model);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  bytes[bytes.size() / 2] = 'y';
  write(model, bytes);
  fs::last_write_time(model, mtime);
  const fs::path b = cache_entry(dir / "cache", model, "1.22.0", 3);
  EXPECT_NE(a, b);

  EXPECT_NE(cache_entry(dir / "cache", model, "1.23.0", 3), b);  // another ONNX Runtime
  EXPECT_NE(cache_entry(dir / "cache", model, "1.22.0", 2), b);  // another optimisation level
}

// fault row 19: an entry of another engine, engine version or setting is never looked up (another key).
TEST(ModelCache, KeyChangesWithEveryInput) {
  const fs::path dir = fresh_dir("key-engines");
  const fs::path model = dir / "m.onnx";
  write(model, std::string(1000, 'm'));
  const fs::path ov = cache_entry(dir, model, "openvino 2026.4.1-22982 repair-3 f32 streams=1 threads=0", 0, ".ovblob");
  EXPECT_EQ(ov.extension(), ".ovblob");
  EXPECT_NE(cache_entry(dir, model, "openvino 2026.4.1-22982 repair-3 bf16 streams=1 threads=0", 0, ".ovblob"), ov);
  EXPECT_NE(cache_entry(dir, model, "openvino 2026.3.0-22451 repair-3 f32 streams=1 threads=0", 0, ".ovblob"), ov);
  EXPECT_NE(cache_entry(dir, model, "openvino 2026.4.1-22982 repair-3 f32 streams=2 threads=0", 0, ".ovblob"), ov);
  EXPECT_NE(cache_entry(dir, model, "openvino 2026.4.1-22982 repair-2 f32 streams=1 threads=0", 0, ".ovblob"), ov);
  EXPECT_NE(cache_entry(dir, model, "1.22.0", 0, ".ovblob"), ov);  // ONNX Runtime's key
  // Eviction counts each engine's entries apart.
  for (const char* name : {"e0.ovblob", "e1.ovblob", "e2.ovblob"}) write(dir / name, "x");
  write(dir / "keep.onnx", "x");
  kprcnn::cache::evict_entries(dir, 1, ".ovblob");
  int left = 0;
  for (const auto& e : fs::directory_iterator(dir)) left += e.path().extension() == ".ovblob";
  EXPECT_EQ(left, 1);
  EXPECT_TRUE(fs::exists(dir / "keep.onnx"));
}

TEST(ModelCache, EvictsLeastRecentlyUsed) {
  const fs::path dir = fresh_dir("evict");
  const auto now = fs::file_time_type::clock::now();
  for (int i = 0; i < 5; ++i) {
    // (Built with append: GCC 12 warns falsely (-Wrestrict) on `"m" + std::to_string(i)`.)
    std::string name = "m";
    name.append(std::to_string(i)).append(".onnx");
    const fs::path p = dir / name;
    write(p, "model");
    fs::last_write_time(p, now - std::chrono::hours(10 - i));  // m0 oldest
  }
  kprcnn::cache::touch_entry(dir / "m0.onnx");  // used just now: m0 is the newest
  write(dir / ".tmp-1-2-3-m9.onnx", "partial");
  fs::last_write_time(dir / ".tmp-1-2-3-m9.onnx", now - std::chrono::hours(48));  // a crashed writer's leftover
  kprcnn::cache::evict_entries(dir, 3);
  EXPECT_TRUE(fs::exists(dir / "m0.onnx"));
  EXPECT_FALSE(fs::exists(dir / "m1.onnx"));
  EXPECT_FALSE(fs::exists(dir / "m2.onnx"));
  EXPECT_TRUE(fs::exists(dir / "m3.onnx"));
  EXPECT_TRUE(fs::exists(dir / "m4.onnx"));
  EXPECT_FALSE(fs::exists(dir / ".tmp-1-2-3-m9.onnx"));
}

TEST(ModelCache, DefaultFolderFollowsXdg) {
  const char* old_xdg = std::getenv("XDG_CACHE_HOME");
  const std::string saved = old_xdg ? old_xdg : "";
  const char* old_home = std::getenv("HOME");
  const std::string saved_home = old_home ? old_home : "";
  setenv("XDG_CACHE_HOME", "/tmp/xdg-test", 1);
  EXPECT_EQ(kprcnn::cache::default_cache_dir(), fs::path("/tmp/xdg-test/kprcnn"));
  setenv("XDG_CACHE_HOME", "relative/ignored", 1);  // the XDG spec: relative paths are invalid
  setenv("HOME", "/home/someone", 1);
  EXPECT_EQ(kprcnn::cache::default_cache_dir(), fs::path("/home/someone/.cache/kprcnn"));
  if (old_home) setenv("HOME", saved_home.c_str(), 1);
  if (old_xdg) {
    setenv("XDG_CACHE_HOME", saved.c_str(), 1);
  } else {
    unsetenv("XDG_CACHE_HOME");
  }
}

}  // namespace

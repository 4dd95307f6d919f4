// Detector load-time refusals that need no exported model (fault row 7).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "kprcnn/detector.h"
#include "kprcnn/error.h"

namespace {

namespace fs = std::filesystem;

fs::path temp_file(const std::string& name, const std::string& contents) {
  fs::path dir = fs::path(KPRCNN_TEST_TMP_DIR) / "detector";
  fs::create_directories(dir);
  fs::path p = dir / name;
  std::ofstream(p, std::ios::binary) << contents;
  return p;
}

kprcnn::ErrorCode load_error(const fs::path& model) {
  try {
    kprcnn::Detector detector(model);
  } catch (const kprcnn::Error& e) {
    EXPECT_NE(std::string(e.what()).find(model.filename().string()), std::string::npos) << e.what();
    return e.code();
  }
  ADD_FAILURE() << "model " << model << " was accepted";
  return kprcnn::ErrorCode::kInternal;
}

TEST(DetectorLoad, MissingFileIsIoError) {
  EXPECT_EQ(load_error(fs::path(KPRCNN_TEST_TMP_DIR) / "no-such-model.onnx"), kprcnn::ErrorCode::kIo);
}

TEST(DetectorLoad, FolderIsIoError) {
  fs::create_directories(fs::path(KPRCNN_TEST_TMP_DIR) / "model-folder.onnx");
  EXPECT_EQ(load_error(fs::path(KPRCNN_TEST_TMP_DIR) / "model-folder.onnx"), kprcnn::ErrorCode::kIo);
}

// fault row 7: corrupt, truncated or empty .onnx is refused at load with a clear error.
TEST(DetectorLoad, EmptyFileIsModelLoadError) {
  EXPECT_EQ(load_error(temp_file("empty.onnx", "")), kprcnn::ErrorCode::kModelLoad);
}

TEST(DetectorLoad, TextFileIsModelLoadError) {
  EXPECT_EQ(load_error(temp_file("text.onnx", "this is not a protobuf, just some text\n")),
            kprcnn::ErrorCode::kModelLoad);
}

TEST(DetectorLoad, RandomBytesAreModelLoadError) {
  std::string bytes;
  unsigned state = 12345;
  for (int i = 0; i < 4096; ++i) {
    state = state * 1103515245u + 12345u;
    bytes.push_back(static_cast<char>(state >> 24));
  }
  EXPECT_EQ(load_error(temp_file("random.onnx", bytes)), kprcnn::ErrorCode::kModelLoad);
}

TEST(DetectorLoad, ErrorCodesHaveStableNames) {
  EXPECT_STREQ(kprcnn::to_string(kprcnn::ErrorCode::kImageDecode), "image_decode");
  EXPECT_STREQ(kprcnn::to_string(kprcnn::ErrorCode::kModelContract), "model_contract");
}

TEST(DetectorLoad, OnnxRuntimeReportsVersionAndCpuProvider) {
  EXPECT_FALSE(kprcnn::onnxruntime_version().empty());
  const auto providers = kprcnn::available_providers();
  EXPECT_NE(std::find(providers.begin(), providers.end(), "CPUExecutionProvider"), providers.end());
}

}  // namespace

#include "ort/external_data.h"

namespace {

// Hand-assembled protobuf: ModelProto{graph{initializer{external_data{key:"location" value:LOC}}}}.
std::vector<std::uint8_t> model_with_location(const std::string& location) {
  auto field = [](int number, const std::vector<std::uint8_t>& payload) {
    std::vector<std::uint8_t> out{static_cast<std::uint8_t>(number << 3 | 2)};
    std::size_t n = payload.size();
    do {
      out.push_back(static_cast<std::uint8_t>((n & 0x7f) | (n > 0x7f ? 0x80 : 0)));
      n >>= 7;
    } while (n);
    out.insert(out.end(), payload.begin(), payload.end());
    return out;
  };
  auto bytes = [](const std::string& s) { return std::vector<std::uint8_t>(s.begin(), s.end()); };
  auto entry = field(1, bytes("location"));
  auto value = field(2, bytes(location));
  entry.insert(entry.end(), value.begin(), value.end());
  return field(7, field(5, field(13, entry)));
}

TEST(DetectorExternalData, FindsLocationsInInitializers) {
  const auto model = model_with_location("../secret.bin");
  EXPECT_EQ(kprcnn::ort::external_data_locations(model), std::vector<std::string>{"../secret.bin"});
}

TEST(DetectorExternalData, MalformedBytesNeverCrash) {
  auto model = model_with_location("weights.bin");
  for (std::size_t cut = 0; cut < model.size(); ++cut) {
    std::vector<std::uint8_t> truncated(model.begin(), model.begin() + static_cast<std::ptrdiff_t>(cut));
    EXPECT_TRUE(kprcnn::ort::external_data_locations(truncated).empty());
  }
  // Attributes nested 5000 deep (node → attribute → graph → ...): the walk stops at its depth bound, no overflow.
  std::vector<std::uint8_t> deep(2, 0);
  for (int i = 0; i < 5000; ++i) {
    const std::size_t n = deep.size();
    std::vector<std::uint8_t> wrapped{static_cast<std::uint8_t>(i % 3 == 0 ? 0x0a : i % 3 == 1 ? 0x2a : 0x32)};
    for (std::size_t v = n;; v >>= 7) {
      wrapped.push_back(static_cast<std::uint8_t>((v & 0x7f) | (v > 0x7f ? 0x80 : 0)));
      if (v <= 0x7f) break;
    }
    wrapped.insert(wrapped.end(), deep.begin(), deep.end());
    deep.swap(wrapped);
  }
  EXPECT_TRUE(kprcnn::ort::external_data_locations(deep).empty());
}

}  // namespace

// The option table (kprcnn/options.h): one declaration of every front end's detector, predict and draw options.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "kprcnn/error.h"
#include "kprcnn/options.h"

namespace {

kprcnn::ErrorCode code_of(kprcnn::Options& o, const char* name, const char* value) {
  try {
    kprcnn::set_option(o, name, value);
  } catch (const kprcnn::Error& e) {
    return e.code();
  }
  ADD_FAILURE() << name << "=" << value << " was accepted";
  return kprcnn::ErrorCode::kInternal;
}

TEST(Options, DefaultsAreTheLibraryStructsDefaults) {
  // The table shows the structs' own defaults: they are written once, in the structs.
  const kprcnn::Options defaults = kprcnn::default_options();
  EXPECT_EQ(kprcnn::find_option("threshold")->default_value, "0.8");
  EXPECT_EQ(kprcnn::find_option("size")->default_value, std::to_string(kprcnn::PredictOptions{}.size));
  EXPECT_EQ(kprcnn::find_option("engine")->default_value, "auto");
  EXPECT_EQ(defaults.detector.model_cache_dir, kprcnn::default_model_cache_dir());
  for (const kprcnn::OptionInfo& info : kprcnn::option_list()) {
    if (info.name == "cache_dir") continue;  // listed by its rule, not this process's $HOME
    EXPECT_EQ(kprcnn::get_option(defaults, info.name), info.default_value) << info.name;
  }
}

TEST(Options, EveryOptionRoundTripsThroughText) {
  kprcnn::Options o = kprcnn::default_options();
  std::set<std::string> names;
  for (const kprcnn::OptionInfo& info : kprcnn::option_list()) {
    EXPECT_TRUE(names.insert(info.name).second) << "duplicate " << info.name;
    EXPECT_FALSE(info.help.empty()) << info.name;
    const std::string value = kprcnn::get_option(o, info.name);
    kprcnn::set_option(o, info.name, value);
    EXPECT_EQ(kprcnn::get_option(o, info.name), value) << info.name;
  }
}

TEST(Options, ValuesLandInTheStructs) {
  kprcnn::Options o = kprcnn::default_options();
  kprcnn::set_option(o, "threshold", "0.5");
  kprcnn::set_option(o, "size", "384");
  kprcnn::set_option(o, "engine", "ort");
  kprcnn::set_option(o, "precision", "bf16");
  kprcnn::set_option(o, "threads", "3");
  kprcnn::set_option(o, "boxes", "yes");
  kprcnn::set_option(o, "fast-decode", "true");  // '-' and '_' alike (the CLI's spelling)
  kprcnn::set_option(o, "no_cache", "1");
  EXPECT_FLOAT_EQ(o.predict.threshold, 0.5f);
  EXPECT_EQ(o.predict.size, 384);
  EXPECT_EQ(o.detector.engine, kprcnn::Engine::kOnnxRuntime);
  EXPECT_EQ(o.detector.precision, kprcnn::Precision::kBf16);
  EXPECT_EQ(o.detector.intra_op_threads, 3);
  EXPECT_TRUE(o.draw.boxes);
  EXPECT_TRUE(o.fast_decode);
  EXPECT_TRUE(o.detector.model_cache_dir.empty());
  kprcnn::set_option(o, "cache_dir", "/tmp/somewhere");
  EXPECT_EQ(o.detector.model_cache_dir, "/tmp/somewhere");
  EXPECT_EQ(kprcnn::get_option(o, "no_cache"), "0");
}

TEST(Options, BadValuesAreRefusedNamingTheOption) {
  kprcnn::Options o = kprcnn::default_options();
  const kprcnn::Options before = o;
  using kprcnn::ErrorCode;
  EXPECT_EQ(code_of(o, "threshold", "1.5"), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of(o, "threshold", "nan"), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of(o, "threshold", "0.5x"), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of(o, "threshold", ""), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of(o, "size", "15"), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of(o, "size", "512.5"), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of(o, "size", "99999999999999999999"), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of(o, "boxes", "maybe"), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code_of(o, "engine", "tensorflow"), ErrorCode::kEngineUnavailable);
  EXPECT_EQ(code_of(o, "no_such_option", "1"), ErrorCode::kInvalidArgument);
  // A refused value leaves the options as they were.
  EXPECT_FLOAT_EQ(o.predict.threshold, before.predict.threshold);
  EXPECT_EQ(o.predict.size, before.predict.size);
  try {
    kprcnn::set_option(o, "size", "15");
  } catch (const kprcnn::Error& e) {
    EXPECT_NE(std::string(e.what()).find("size"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[16, 4096]"), std::string::npos) << e.what();
  }
  try {
    kprcnn::set_option(o, "thresold", "0.5");
  } catch (const kprcnn::Error& e) {
    EXPECT_NE(std::string(e.what()).find("threshold"), std::string::npos) << "lists the names: " << e.what();
  }
}

}  // namespace

// Units of apps/server/options.cpp: duration, size and count parsing; the predict query; option validation.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "kprcnn/error.h"
#include "options.h"

namespace kprcnn::server {
namespace {

using std::chrono::milliseconds;

ErrorCode code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  }
  return ErrorCode::kInternal;  // "did not throw"
}

TEST(ParseDuration, UnitsAndBareSeconds) {
  EXPECT_EQ(parse_duration("250ms"), milliseconds(250));
  EXPECT_EQ(parse_duration("30s"), milliseconds(30000));
  EXPECT_EQ(parse_duration("1.5s"), milliseconds(1500));
  EXPECT_EQ(parse_duration("2m"), milliseconds(120000));
  EXPECT_EQ(parse_duration("1h"), milliseconds(3600000));
  EXPECT_EQ(parse_duration("30"), milliseconds(30000));
  EXPECT_EQ(parse_duration(" 10 s "), milliseconds(10000));
  EXPECT_EQ(parse_duration("0"), milliseconds(0));
}

TEST(ParseDuration, RejectsGarbage) {
  for (const char* bad : {"", "s", "-1s", "10 parsecs", "1e3", "nan", "1..2s", "9999999999h"}) {
    EXPECT_EQ(code_of([&] { parse_duration(bad); }), ErrorCode::kInvalidArgument) << bad;
  }
}

TEST(ParseBytes, BinaryAndDecimalUnits) {
  EXPECT_EQ(parse_bytes("32MiB"), 32ull << 20);
  EXPECT_EQ(parse_bytes("32M"), 32ull << 20);
  EXPECT_EQ(parse_bytes("32m"), 32ull << 20);
  EXPECT_EQ(parse_bytes("512KiB"), 512ull << 10);
  EXPECT_EQ(parse_bytes("1GiB"), 1ull << 30);
  EXPECT_EQ(parse_bytes("5MB"), 5'000'000u);
  EXPECT_EQ(parse_bytes("1000"), 1000u);
  EXPECT_EQ(parse_bytes("1.5KiB"), 1536u);
  for (const char* bad : {"", "MiB", "-5", "5 furlongs", "1e30"}) {
    EXPECT_EQ(code_of([&] { parse_bytes(bad); }), ErrorCode::kInvalidArgument) << bad;
  }
}

TEST(ParseCount, DecimalSuffixes) {
  EXPECT_EQ(parse_count("40M"), 40'000'000u);
  EXPECT_EQ(parse_count("500K"), 500'000u);
  EXPECT_EQ(parse_count("1.5G"), 1'500'000'000u);
  EXPECT_EQ(parse_count("123456"), 123456u);
  EXPECT_EQ(code_of([] { parse_count("40MiB"); }), ErrorCode::kInvalidArgument);
}

TEST(Options, QueueAndThreadSplit) {
  ServerOptions o;
  o.workers = 3;
  EXPECT_EQ(queue_capacity(o), 12);
  o.queue = 5;
  EXPECT_EQ(queue_capacity(o), 5);
  EXPECT_EQ(intra_op_threads(o, 16), 5);  // 16 cores / 3 workers
  EXPECT_EQ(intra_op_threads(o, 2), 1);   // never 0
  o.options.detector.intra_op_threads = 7;
  EXPECT_EQ(intra_op_threads(o, 2), 7);  // explicit wins
}

TEST(Options, ValidateNamesTheOption) {
  ServerOptions o;
  o.model = "m.onnx";
  EXPECT_NO_THROW(validate(o));
  o.workers = 0;
  try {
    validate(o);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--workers"), std::string::npos) << e.what();
  }
  ServerOptions no_model;
  EXPECT_EQ(code_of([&] { validate(no_model); }), ErrorCode::kInvalidArgument);
  // The option table's values are checked with its messages, set by a flag or by code.
  ServerOptions bad_size;
  bad_size.model = "m.onnx";
  bad_size.options.predict.size = 8;
  EXPECT_EQ(code_of([&] { validate(bad_size); }), ErrorCode::kInvalidArgument);
}

PredictQuery parse(const std::map<std::string, std::string>& args, const ServerOptions& o = {}) {
  return parse_predict_query(
      [&](const char* key) -> const char* {
        const auto it = args.find(key);
        return it == args.end() ? nullptr : it->second.c_str();
      },
      o);
}

TEST(PredictQuery, DefaultsComeFromOptions) {
  ServerOptions o;
  o.options.predict.threshold = 0.5f;
  o.options.predict.size = 320;
  const PredictQuery q = parse({}, o);
  EXPECT_FLOAT_EQ(q.options.predict.threshold, 0.5f);
  EXPECT_EQ(q.options.predict.size, 320);
  EXPECT_EQ(q.annotate, Annotate::kNone);
  EXPECT_FALSE(q.options.draw.boxes);
}

TEST(PredictQuery, ParsesEveryKey) {
  const PredictQuery q = parse({{"threshold", "0.25"},
                                {"size", "640"},
                                {"annotate", "JPEG"},
                                {"boxes", "1"},
                                {"divisor", "32"},
                                {"radius", "4"}});
  EXPECT_FLOAT_EQ(q.options.predict.threshold, 0.25f);
  EXPECT_EQ(q.options.predict.size, 640);
  EXPECT_EQ(q.options.predict.divisor, 32);
  EXPECT_FLOAT_EQ(q.options.draw.radius, 4.0f);
  EXPECT_EQ(q.annotate, Annotate::kJpeg);
  EXPECT_TRUE(q.options.draw.boxes);
  EXPECT_TRUE(parse({{"boxes", ""}}).options.draw.boxes);  // a bare ?boxes
  EXPECT_EQ(parse({{"annotate", "png"}}).annotate, Annotate::kPng);
  EXPECT_EQ(parse({{"threshold", "1"}}).options.predict.threshold, 1.0f);
  EXPECT_EQ(parse({{"threshold", "0"}}).options.predict.threshold, 0.0f);
  // A load-time option is not a query parameter: ?engine= is ignored, the server's stays.
  EXPECT_EQ(parse({{"engine", "ort"}}).options.detector.engine, Engine::kAuto);
}

TEST(PredictQuery, RejectsOutOfRangeNamingTheKey) {
  const std::map<std::string, std::string> bad[] = {
      {{"threshold", "1.5"}}, {{"threshold", "-0.1"}}, {{"threshold", "nan"}}, {{"threshold", "0.5x"}},
      {{"threshold", ""}},    {{"size", "8"}},         {{"size", "5000"}},     {{"size", "12.5"}},
      {{"annotate", "gif"}},  {{"boxes", "maybe"}},    {{"divisor", "0"}},     {{"radius", "-1"}},
  };
  for (const auto& args : bad) {
    try {
      parse(args);
      FAIL() << args.begin()->first << "=" << args.begin()->second << " accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      EXPECT_NE(std::string(e.what()).find(args.begin()->first), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace kprcnn::server

// Bugs the fuzzers found (tests/fuzz), one test each, named after the target that found it. The reproducer of each
// is committed under tests/fuzz/regressions/<target>/ and replayed by the ctest fuzz_regressions.<target>; these
// tests state the fixed behaviour in the library's own terms.
#include <gtest/gtest.h>

#include <string>

#include "kprcnn/error.h"
#include "kprcnn/json.h"

namespace kprcnn {
namespace {

// fuzz_colormap: a number beyond double's range made nlohmann throw out_of_range.406, which parse_colormap let
// escape as a non-kprcnn exception (the CLI's "internal error", a failed load in the server) instead of kColormap.
TEST(FuzzColormap, NumberOverflowIsAColormapError) {  // RELIABILITY row 7 (model metadata), regressions/colormap
  for (const char* text : {R"({"items":[{"label":"a","color":[1e400,0,0]}]})", R"({"items":[],"x":-1e999})"}) {
    try {
      parse_colormap(text);
      ADD_FAILURE() << "accepted " << text;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kColormap) << text;
      EXPECT_NE(std::string(e.what()).find("not valid JSON"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("number overflow"), std::string::npos) << e.what();
    }
  }
}

// Found by review while writing fuzz_colormap (its 4 KiB inputs nest too shallowly to reach it): the error excerpt
// dumped the document with nlohmann's recursive serializer, so "[[[[...]]]]" 300,000 levels deep (600 KB: a
// colormap file or a model's metadata) overflowed the stack. Documents deeper than 64 levels are now refused while
// parsing. The committed input (regressions/colormap/deep-nesting-100.json) nests 100 levels: it replays the
// refusal; the overflow itself needs the size built here.
TEST(FuzzColormap, DeepNestingIsRefusedNotAStackOverflow) {  // RELIABILITY row 7 (model metadata)
  const auto nested = [](int depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  for (const std::string& text :
       {nested(300'000), R"({"items":[{"label":"a","color":[0,0,0]}],"skeleton":[)" + nested(300'000) + "]}"}) {
    try {
      parse_colormap(text);
      ADD_FAILURE() << "accepted a deeply nested document";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kColormap);
      EXPECT_NE(std::string(e.what()).find("nests deeper than 64 levels"), std::string::npos) << e.what();
    }
  }
  // Anything a colormap needs is far shallower: an unused key nesting 60 levels is still accepted.
  const Colormap ok = parse_colormap(R"({"items":[{"label":"a","color":[0,0,0]}],"extra":)" + nested(60) + "}");
  EXPECT_EQ(ok.keypoints.size(), 1u);
}

}  // namespace
}  // namespace kprcnn

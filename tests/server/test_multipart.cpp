// Units of apps/server/multipart.cpp: boundary extraction and part lookup on hostile bodies.
#include <gtest/gtest.h>

#include <string>

#include "kprcnn/error.h"
#include "multipart.h"

namespace kprcnn::server {
namespace {

TEST(MultipartBoundary, PlainQuotedAndOtherTypes) {
  EXPECT_EQ(multipart_boundary("multipart/form-data; boundary=abc123"), "abc123");
  EXPECT_EQ(multipart_boundary("Multipart/Form-Data;boundary=\"a b;c\""), "a b;c");
  EXPECT_EQ(multipart_boundary("multipart/form-data; charset=utf-8; boundary=xyz"), "xyz");
  EXPECT_FALSE(multipart_boundary("image/png").has_value());
  EXPECT_FALSE(multipart_boundary("").has_value());
  EXPECT_THROW(multipart_boundary("multipart/form-data"), Error);
  EXPECT_THROW(multipart_boundary("multipart/form-data; boundary=\"\""), Error);
  EXPECT_THROW(multipart_boundary("multipart/form-data; boundary=" + std::string(71, 'x')), Error);
}

std::string body_with(const std::string& boundary, const std::string& parts) {
  return "preamble to ignore\r\n" + parts + "--" + boundary + "--\r\nepilogue";
}

TEST(FindFormPart, FindsTheFileFieldAmongOthers) {
  const std::string b = "XyZ";
  const std::string image("\x89PNG\r\n\x1a\n\0\0binary--XyZ-not-a-delimiter", 38);
  const std::string body =
      body_with(b,
                "--XyZ\r\nContent-Disposition: form-data; name=\"threshold\"\r\n\r\n0.5\r\n"
                "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cat \\\"1\\\".png\"\r\n"
                "Content-Type: image/png\r\n\r\n" +
                    image + "\r\n");
  const FormPart part = find_form_part(body, b, "file");
  EXPECT_EQ(part.data, image);
  EXPECT_EQ(part.filename, "cat \"1\".png");
}

TEST(FindFormPart, EmptyPartAndNoPreamble) {
  const std::string body = "--b\r\nContent-Disposition: form-data; name=file\r\n\r\n\r\n--b--";
  const FormPart part = find_form_part(body, "b", "file");
  EXPECT_TRUE(part.data.empty());
  EXPECT_TRUE(part.filename.empty());
}

TEST(FindFormPart, MalformedBodiesAreInvalidArgument) {
  const std::string bad[] = {
      "",                                                                          // nothing
      "no delimiter at all",                                                       //
      "--b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nunterminated",  // no closing boundary
      "--b\r\nContent-Disposition: form-data; name=\"file\"",                      // headers never end
      "--b\r\nno colon here\r\n\r\nx\r\n--b--",                                    //
      "--bgarbage\r\n\r\nx\r\n--b--",                                              // delimiter not followed by CRLF
      "--b\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--b--",   // no field "file"
      "--b--",                                                                     // no parts
  };
  for (const auto& body : bad) {
    try {
      find_form_part(body, "b", "file");
      FAIL() << "accepted: " << body;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << body;
    }
  }
}

}  // namespace
}  // namespace kprcnn::server

#include "multipart.h"

#include <algorithm>
#include <cctype>

#include "kprcnn/error.h"

namespace kprcnn::server {
namespace {

[[noreturn]] void invalid(const std::string& message) {
  throw Error(ErrorCode::kInvalidArgument, message);
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
           return std::tolower(x) == std::tolower(y);
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Parameters of a header value: `type; key=value; key="quoted value"`. Returns the value of `key` (case-insensitive),
// unquoted (backslash escapes honoured), or nullopt.
std::optional<std::string> header_param(std::string_view value, std::string_view key) {
  std::size_t pos = value.find(';');
  while (pos != std::string_view::npos) {
    ++pos;
    while (pos < value.size() && (value[pos] == ' ' || value[pos] == '\t')) ++pos;
    const std::size_t eq = value.find('=', pos);
    if (eq == std::string_view::npos) return std::nullopt;
    const std::string_view name = trim(value.substr(pos, eq - pos));
    std::size_t i = eq + 1;
    while (i < value.size() && (value[i] == ' ' || value[i] == '\t')) ++i;
    std::string parsed;
    if (i < value.size() && value[i] == '"') {
      ++i;
      while (i < value.size() && value[i] != '"') {
        if (value[i] == '\\' && i + 1 < value.size()) ++i;
        parsed += value[i++];
      }
      if (i >= value.size()) return std::nullopt;  // unterminated quote
      ++i;
      pos = value.find(';', i);
    } else {
      const std::size_t end = value.find(';', i);
      parsed = std::string(trim(value.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i)));
      pos = end;
    }
    if (iequals(name, key)) return parsed;
  }
  return std::nullopt;
}

const char* const kHowTo =
    "; send the image as the raw request body, or as multipart/form-data with the image in a field named \"file\"";

}  // namespace

std::optional<std::string> multipart_boundary(std::string_view content_type) {
  const std::string_view media = trim(content_type.substr(0, content_type.find(';')));
  if (!iequals(media, "multipart/form-data")) return std::nullopt;
  auto boundary = header_param(content_type, "boundary");
  // RFC 2046: 1 to 70 characters, not ending in a space.
  if (!boundary || boundary->empty() || boundary->size() > 70 || boundary->back() == ' ') {
    invalid("multipart/form-data request without a valid boundary parameter" + std::string(kHowTo));
  }
  return boundary;
}

FormPart find_form_part(std::string_view body, std::string_view boundary, std::string_view field) {
  const std::string delimiter = "--" + std::string(boundary);
  const std::string next_delimiter = "\r\n" + delimiter;
  // The first delimiter may start the body or follow a preamble (then it is preceded by CRLF).
  std::size_t pos;
  if (body.substr(0, delimiter.size()) == delimiter) {
    pos = 0;
  } else {
    pos = body.find(next_delimiter);
    if (pos == std::string_view::npos) invalid("multipart body has no boundary delimiter" + std::string(kHowTo));
    pos += 2;
  }
  for (;;) {
    pos += delimiter.size();
    if (body.substr(pos, 2) == "--") break;                                      // close delimiter: no more parts
    while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t')) ++pos;  // transport padding
    if (body.substr(pos, 2) != "\r\n") invalid("malformed multipart body (delimiter not followed by CRLF)");
    pos += 2;

    // Part headers up to an empty line (a part may have none).
    std::string disposition;
    for (;;) {
      const std::size_t eol = body.find("\r\n", pos);
      if (eol == std::string_view::npos) invalid("malformed multipart body (unterminated part headers)");
      const std::string_view line = body.substr(pos, eol - pos);
      pos = eol + 2;
      if (line.empty()) break;
      const std::size_t colon = line.find(':');
      if (colon == std::string_view::npos) invalid("malformed multipart body (part header without ':')");
      if (iequals(trim(line.substr(0, colon)), "content-disposition")) disposition = trim(line.substr(colon + 1));
    }
    const std::size_t end = body.find(next_delimiter, pos);
    if (end == std::string_view::npos) invalid("malformed multipart body (part without a closing boundary)");
    if (const auto name = header_param(disposition, "name"); name && *name == field) {
      FormPart part;
      part.data = body.substr(pos, end - pos);
      part.filename = header_param(disposition, "filename").value_or("");
      return part;
    }
    pos = end + 2;
  }
  invalid("multipart body has no field named \"" + std::string(field) + "\"" + kHowTo);
}

}  // namespace kprcnn::server

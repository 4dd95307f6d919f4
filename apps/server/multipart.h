// multipart/form-data (RFC 7578) over a body already in memory (and already capped by --max-body): find one field.
// Pure functions, no I/O, no copies: the result views into `body`.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace kprcnn::server {

// The boundary parameter of a "multipart/form-data; boundary=..." Content-Type (quotes removed); nullopt when the
// media type is not multipart/form-data. Throws kInvalidArgument when it is, but the boundary is missing or invalid.
std::optional<std::string> multipart_boundary(std::string_view content_type);

struct FormPart {
  std::string_view data;  // the part's bytes
  std::string filename;   // from Content-Disposition (may be empty)
};

// The first part whose Content-Disposition has name="<field>". Throws kInvalidArgument when the body is not a
// well-formed multipart body or has no such part (the message says how to send the image).
FormPart find_form_part(std::string_view body, std::string_view boundary, std::string_view field);

}  // namespace kprcnn::server

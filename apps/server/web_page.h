// The web page served at GET / (apps/server/web/index.html, embedded at build time: no external assets).
#pragma once

#include <string_view>

namespace kprcnn::server {

std::string_view index_html() noexcept;

}  // namespace kprcnn::server

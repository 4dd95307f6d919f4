// Structured logging: one JSON object per line on stderr, written with a single write(2) so lines from several
// threads never interleave. Every line has "ts" (UTC, ms) and "event"; the rest are the caller's fields.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

namespace kprcnn::server {

// Writes {"ts": ..., "event": event, ...fields} + "\n" to stderr. Never throws.
void log_event(std::string_view event, const nlohmann::ordered_json& fields = nlohmann::ordered_json::object());

}  // namespace kprcnn::server

// The library's option table (kprcnn/options.h) as CLI11 flags: every subcommand that loads a model or predicts
// registers its options from there, so flags, help, defaults and range checks are the same everywhere.
#pragma once

#include <CLI/CLI.hpp>

#include <initializer_list>
#include <string_view>

#include "kprcnn/options.h"

namespace kprcnn::cli {

// Adds --name (and -x for the table's short flags) for every option of `groups` except `except`; parsing sets
// them in `target` through kprcnn::set_option (a bad value is a usage error, exit 2, with the library's message;
// an unknown engine or provider name is rethrown as the library's kEngineUnavailable, exit 5).
// kBool options are flags (--boxes, --no-cache, --fast-decode). `help_prefix` goes before each help text
// ("With --model: " in kprcnn eval).
void add_options(CLI::App* app, Options& target, std::initializer_list<OptionGroup> groups,
                 std::initializer_list<std::string_view> except = {}, std::string_view help_prefix = "");

}  // namespace kprcnn::cli

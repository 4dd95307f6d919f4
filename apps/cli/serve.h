// kprcnn serve: the HTTP inference server (apps/server) behind the command line.
#pragma once

#include <CLI/CLI.hpp>

#include "server.h"

namespace kprcnn::cli {

// Registers the `serve` subcommand; its options fill `options`. After parsing: `if (*cmd) return
// kprcnn::server::serve(options);` (model-load failures come back as kprcnn::Error, mapped by report()).
CLI::App* add_serve_command(CLI::App& app, server::ServerOptions& options);

}  // namespace kprcnn::cli

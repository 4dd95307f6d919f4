// A thin main over `kprcnn serve`'s own command registration (apps/cli/serve.cpp), for the server tests: the same
// options, the same exit codes (apps/cli/common.cpp). The tests use `kprcnn serve` itself when the CLI has it.
#include <CLI/CLI.hpp>

#include <iostream>

#include "commands.h"
#include "serve.h"

int main(int argc, char** argv) {
  CLI::App app{"kprcnn serve (test main)"};
  app.require_subcommand(1);
  kprcnn::server::ServerOptions options;
  kprcnn::cli::add_serve_command(app, options);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& err) {
    return app.exit(err) == 0 ? 0 : 2;
  }
  try {
    return kprcnn::server::serve(options);
  } catch (const kprcnn::Error& err) {
    return kprcnn::cli::report(err);
  } catch (const std::exception& err) {
    std::cerr << "error: internal: " << err.what() << "\n";
    return 70;
  }
}

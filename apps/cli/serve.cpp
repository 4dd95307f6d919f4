// kprcnn serve: options → kprcnn::server::ServerOptions. Sizes and durations take units ("32MiB", "30s", "500ms").
#include "serve.h"

#include <functional>
#include <string>

#include "kprcnn/error.h"
#include "options.h"

namespace kprcnn::cli {
namespace {

// An option given as text and stored through `parse`; a parse error is a usage error (exit 2).
template <typename T>
CLI::Option* add_parsed(CLI::App* cmd, const std::string& name, T& target, std::function<T(std::string_view)> parse,
                        const std::string& help, const std::string& default_text) {
  return cmd
      ->add_option_function<std::string>(
          name,
          [&target, parse](const std::string& text) {
            try {
              target = parse(text);
            } catch (const Error& e) {
              throw CLI::ValidationError(e.what());
            }
          },
          help)
      ->default_str(default_text)
      ->type_name("TEXT");
}

}  // namespace

CLI::App* add_serve_command(CLI::App& app, server::ServerOptions& o) {
  auto* s = app.add_subcommand("serve",
                               "HTTP inference server: POST /v1/predict, GET / (web page), /healthz, /readyz, "
                               "/metrics; SIGTERM drains and exits 0");
  s->add_option("-m,--model", o.model, "Exported model (.onnx)")->required();
  s->add_option("--host", o.host, "Address to listen on (0.0.0.0 or :: for every interface)")->capture_default_str();
  s->add_option("-p,--port", o.port, "Port (0: any free port, printed in the 'listening' log line)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  s->add_option("-w,--workers", o.workers, "Inference workers sharing one model (cores are split between them)")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  s->add_option("--queue", o.queue, "Requests waiting for a worker before 503 (0: 4 x workers)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  s->add_option("--io-threads", o.io_threads, "HTTP I/O threads")->capture_default_str()->check(CLI::Range(1, 64));
  add_parsed<std::uint64_t>(s, "--max-body", o.max_body, server::parse_bytes, "Largest request body (→ 413)", "32MiB");
  add_parsed<std::uint64_t>(s, "--max-pixels", o.max_pixels, server::parse_count,
                            "Largest decoded image, width x height, checked from its header (→ 413)", "40M");
  add_parsed<std::size_t>(
      s, "--max-header-bytes", o.max_header_bytes,
      [](std::string_view t) { return static_cast<std::size_t>(server::parse_bytes(t)); },
      "Request line + headers (→ 431)", "32KiB");
  add_parsed<std::size_t>(
      s, "--max-uri", o.max_uri, [](std::string_view t) { return static_cast<std::size_t>(server::parse_bytes(t)); },
      "Longest request target (→ 414)", "8KiB");
  s->add_option("--max-connections", o.max_connections, "Open connections at most")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  add_parsed<server::Milliseconds>(s, "--timeout", o.timeout, server::parse_duration,
                                   "Per-request deadline, queue wait included (→ 504)", "30s");
  add_parsed<server::Milliseconds>(s, "--header-timeout", o.header_timeout, server::parse_duration,
                                   "Request line and headers must arrive within this (slowloris)", "10s");
  add_parsed<server::Milliseconds>(s, "--idle-timeout", o.idle_timeout, server::parse_duration,
                                   "Close connections silent for this long", "30s");
  add_parsed<server::Milliseconds>(s, "--drain", o.drain, server::parse_duration,
                                   "On SIGTERM/SIGINT: time for in-flight requests to finish", "30s");
  s->add_option("--retry-after", o.retry_after_s, "Retry-After seconds on 503")
      ->capture_default_str()
      ->check(CLI::Range(0, 3600));
  // The library's option table, as kprcnn predict registers it: the model's options (threads: per worker, 0 splits
  // the cores between the workers), then the defaults a request's ?threshold=, ?size=, ... override.
  add_options(s, o.options, {OptionGroup::kDetector}, {"concurrent_runs"});
  add_options(s, o.options, {OptionGroup::kPredict, OptionGroup::kDraw}, {},
              "Default of the request's query parameter: ");
  return s;
}

}  // namespace kprcnn::cli

#include <iostream>

#include "commands.h"

namespace kprcnn::cli {

int exit_code(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return 2;
    case ErrorCode::kIo: return 3;
    case ErrorCode::kImageDecode:
    case ErrorCode::kImageTooLarge: return 4;
    case ErrorCode::kModelLoad:
    case ErrorCode::kModelContract:
    case ErrorCode::kColormap:
    case ErrorCode::kEngineUnavailable: return 5;
    case ErrorCode::kInference:
    case ErrorCode::kCancelled: return 6;  // the CLI never cancels; a library user's cancelled run is a failed run
    case ErrorCode::kInternal: return 70;
  }
  return 70;
}

void apply_engine(const EngineArgs& args, DetectorOptions& options) {
  options.engine = parse_engine(args.engine);
  options.provider = parse_provider(args.provider);
  options.precision = parse_precision(args.precision);
}

std::string engine_line(const LoadReport& report) {
  std::string line = "engine: " + report.engine_description;
  if (!report.engine_note.empty()) line += " (auto: " + report.engine_note + ")";
  return line;
}

int report(const Error& e) {
  std::cerr << "error: " << e.what() << "\n";
  return exit_code(e.code());
}

}  // namespace kprcnn::cli

#include <cstdio>
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

std::string engine_line(const LoadReport& report) {
  std::string line = "engine: " + report.engine_description;
  if (!report.engine_note.empty()) line += " (auto: " + report.engine_note + ")";
  return line;
}

void print_load(const std::filesystem::path& model, const Detector& detector, double load_ms) {
  const LoadReport& loaded = detector.load_report();
  std::fprintf(stderr, "loaded %s (%zu keypoints) in %.0f ms%s\n", model.filename().c_str(),
               detector.colormap().keypoints.size(), load_ms,
               loaded.cache_hit             ? " (optimised-model cache)"
               : !loaded.cache_file.empty() ? " (optimised model cached for the next start)"
                                            : "");
  std::fprintf(stderr, "%s\n", engine_line(loaded).c_str());
  if (!loaded.cache_note.empty()) std::fprintf(stderr, "model cache: %s\n", loaded.cache_note.c_str());
}

int report(const Error& e) {
  std::cerr << "error: " << e.what() << "\n";
  return exit_code(e.code());
}

}  // namespace kprcnn::cli

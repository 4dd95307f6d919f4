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
    case ErrorCode::kColormap: return 5;
    case ErrorCode::kInference: return 6;
    case ErrorCode::kInternal: return 70;
  }
  return 70;
}

int report(const Error& e) {
  std::cerr << "error: " << e.what() << "\n";
  return exit_code(e.code());
}

}  // namespace kprcnn::cli

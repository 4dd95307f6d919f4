#include "kprcnn/error.h"

namespace kprcnn {

const char* to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid_argument";
    case ErrorCode::kIo: return "io";
    case ErrorCode::kImageDecode: return "image_decode";
    case ErrorCode::kImageTooLarge: return "image_too_large";
    case ErrorCode::kModelLoad: return "model_load";
    case ErrorCode::kModelContract: return "model_contract";
    case ErrorCode::kColormap: return "colormap";
    case ErrorCode::kEngineUnavailable: return "engine_unavailable";
    case ErrorCode::kInference: return "inference";
    case ErrorCode::kCancelled: return "cancelled";
    case ErrorCode::kInternal: return "internal";
  }
  return "unknown";
}

}  // namespace kprcnn

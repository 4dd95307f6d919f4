// kprcnn/error.h — the one exception type of the library.
//
// Every failure the library reports is a kprcnn::Error carrying a code (what kind of failure, so an app can map it
// to an exit code or an HTTP status) and a message written for the user: what is wrong and what to do about it.
#pragma once

#include <stdexcept>
#include <string>

namespace kprcnn {

enum class ErrorCode {
  kInvalidArgument,    // a parameter out of range (threshold, size, ...): fix the call
  kIo,                 // a file could not be read or written (missing, unwritable folder, disk full)
  kImageDecode,        // the bytes are not a readable JPEG/PNG (corrupt, truncated, unsupported)
  kImageTooLarge,      // the image declares more pixels than the cap (header checked before allocating)
  kModelLoad,          // the .onnx file could not be opened by ONNX Runtime (corrupt, truncated, bad external data)
  kModelContract,      // the model's inputs/outputs are not the Keypoint R-CNN contract kprcnn expects
  kColormap,           // the colormap / keypoint metadata is malformed or does not match the model
  kEngineUnavailable,  // the requested engine or execution provider is unknown, not built, or its libraries missing
  kInference,          // the engine failed while running the model
  kCancelled,          // the run was stopped through its CancelToken (a server's deadline): no result
  kInternal,           // a bug in kprcnn: please report it
};

// Short stable name of a code ("image_decode", ...), used in JSON error bodies and logs.
const char* to_string(ErrorCode code) noexcept;

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace kprcnn

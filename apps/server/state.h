// The server's lifecycle state (the model host keeps it; /readyz, admission and the CLI read it).
#pragma once

namespace kprcnn::server {

enum class State {
  kLoading,   // listening; /healthz answers, /readyz 503 until the model is loaded and warmed up
  kReady,     // serving
  kDraining,  // shutdown started: /readyz 503, new predicts 503, admitted requests still finish
  kFailed,    // the model could not be loaded: never ready; rethrow_load_error() says why
  kStopped,
};
const char* to_string(State state) noexcept;

}  // namespace kprcnn::server

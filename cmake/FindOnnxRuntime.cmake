# FindOnnxRuntime — the ONNX Runtime C/C++ SDK as the imported target onnxruntime::onnxruntime.
#
# Looks, in order, at:
#   1. ONNXRUNTIME_ROOT (cache variable or environment): an official release tarball's layout
#      (ROOT/include/onnxruntime_cxx_api.h, ROOT/lib/libonnxruntime.so) or an install prefix
#      (ROOT/include/onnxruntime/onnxruntime_cxx_api.h);
#   2. build/third-party/onnxruntime in the source tree (what scripts/fetch_onnxruntime.sh lays out);
#   3. the system (e.g. Debian's libonnxruntime-dev: /usr/include/onnxruntime).
# Sets OnnxRuntime_FOUND, OnnxRuntime_INCLUDE_DIR, OnnxRuntime_LIBRARY.
if(NOT ONNXRUNTIME_ROOT AND DEFINED ENV{ONNXRUNTIME_ROOT})
  set(ONNXRUNTIME_ROOT "$ENV{ONNXRUNTIME_ROOT}")
endif()

set(_ort_hints "")
if(ONNXRUNTIME_ROOT)
  list(APPEND _ort_hints "${ONNXRUNTIME_ROOT}")
  set(_ort_mode NO_DEFAULT_PATH)
else()
  list(APPEND _ort_hints "${PROJECT_SOURCE_DIR}/build/third-party/onnxruntime")
  set(_ort_mode "")
endif()

find_path(OnnxRuntime_INCLUDE_DIR onnxruntime_cxx_api.h
  HINTS ${_ort_hints} PATH_SUFFIXES include include/onnxruntime ${_ort_mode})
find_library(OnnxRuntime_LIBRARY NAMES onnxruntime
  HINTS ${_ort_hints} PATH_SUFFIXES lib lib64 ${_ort_mode})

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(OnnxRuntime
  REQUIRED_VARS OnnxRuntime_LIBRARY OnnxRuntime_INCLUDE_DIR
  REASON_FAILURE_MESSAGE
    "run scripts/fetch_onnxruntime.sh (or `make setup`), or pass -DONNXRUNTIME_ROOT=<official release folder>")

if(OnnxRuntime_FOUND AND NOT TARGET onnxruntime::onnxruntime)
  add_library(onnxruntime::onnxruntime SHARED IMPORTED)
  set_target_properties(onnxruntime::onnxruntime PROPERTIES
    IMPORTED_LOCATION "${OnnxRuntime_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${OnnxRuntime_INCLUDE_DIR}")
endif()
mark_as_advanced(OnnxRuntime_INCLUDE_DIR OnnxRuntime_LIBRARY)

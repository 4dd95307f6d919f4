# KPRCNN_OPENVINO_LIB_DIR: the folder holding OpenVINO's runtime library (openvino::runtime's file), and
# KPRCNN_OPENVINO_RUNTIME_FILES: the files of that folder the CPU engine loads (the runtime, its CPU plugin, the
# ONNX frontend, TBB and hwloc), which cmake/Install.cmake installs beside the plugin when
# KPRCNN_INSTALL_OPENVINO_RUNTIME is on. The GPU/NPU plugins and the other frontends (~60 MB) are left out: kprcnn
# reads ONNX and runs on the CPU.
get_target_property(_ov_configs openvino::runtime IMPORTED_CONFIGURATIONS)
set(_ov_location "")
foreach(_config IN ITEMS RELEASE ${_ov_configs})
  get_target_property(_ov_location openvino::runtime IMPORTED_LOCATION_${_config})
  if(_ov_location)
    break()
  endif()
endforeach()
if(NOT _ov_location)
  get_target_property(_ov_location openvino::runtime IMPORTED_LOCATION)
endif()
if(NOT _ov_location)
  message(FATAL_ERROR "OpenVINO: cannot tell where openvino::runtime's library is (no IMPORTED_LOCATION)")
endif()
get_filename_component(KPRCNN_OPENVINO_LIB_DIR "${_ov_location}" DIRECTORY)
file(GLOB KPRCNN_OPENVINO_RUNTIME_FILES
  "${KPRCNN_OPENVINO_LIB_DIR}/libopenvino.so*"
  "${KPRCNN_OPENVINO_LIB_DIR}/libopenvino_intel_cpu_plugin.so"
  "${KPRCNN_OPENVINO_LIB_DIR}/libopenvino_onnx_frontend.so*"
  "${KPRCNN_OPENVINO_LIB_DIR}/libtbb.so*"
  "${KPRCNN_OPENVINO_LIB_DIR}/libtbbbind*.so*"
  "${KPRCNN_OPENVINO_LIB_DIR}/libtbbmalloc.so*"
  "${KPRCNN_OPENVINO_LIB_DIR}/libhwloc.so*")

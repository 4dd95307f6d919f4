# Install rules, the CMake package and the Debian package (CPack). Included by the top-level CMakeLists.txt when
# KPRCNN_INSTALL is on. The installed tree (README, "Install"):
#   bin/kprcnn                               the CLI (RPATH $ORIGIN/../lib: the tree can be moved)
#   include/kprcnn/*.h                       the public API (no third-party header)
#   lib/libkprcnn.a                          the library; lib/cmake/kprcnn: find_package(kprcnn CONFIG)
#   lib/libonnxruntime.so*                   ONNX Runtime (when it came from the SDK, not the system)
#   lib/libkprcnn_openvino.so                the OpenVINO engine plugin, and lib/kprcnn-openvino/ the OpenVINO
#                                            runtime it loads (KPRCNN_INSTALL_OPENVINO_RUNTIME)
#   share/kprcnn/python/kprcnn_export        the exporter, trainer and quantiser (`kprcnn export` runs it)
#   share/kprcnn/models/face                 the bundled trained model (`kprcnn export` input; make demo's model)
include(CMakePackageConfigHelpers)
set(KPRCNN_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/kprcnn)

install(TARGETS kprcnn EXPORT kprcnnTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/kprcnn ${PROJECT_BINARY_DIR}/include/kprcnn
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.h")

# ONNX Runtime: the SDK's shared library (and its soname links) beside ours, unless it is the system's.
get_filename_component(_ort_real "${OnnxRuntime_LIBRARY}" REALPATH)
get_filename_component(_ort_dir "${_ort_real}" DIRECTORY)
if(_ort_dir MATCHES "^/usr/")
  set(KPRCNN_ONNXRUNTIME_BUNDLED OFF)
else()
  set(KPRCNN_ONNXRUNTIME_BUNDLED ON)
  file(GLOB _ort_files "${_ort_dir}/libonnxruntime.so*")
  install(FILES ${_ort_files} DESTINATION ${CMAKE_INSTALL_LIBDIR})
endif()

if(TARGET kprcnn_openvino)
  install(TARGETS kprcnn_openvino LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  if(KPRCNN_INSTALL_OPENVINO_RUNTIME)
    install(FILES ${KPRCNN_OPENVINO_RUNTIME_FILES} DESTINATION ${CMAKE_INSTALL_LIBDIR}/kprcnn-openvino)
  endif()
endif()

if(TARGET kprcnn_cli)
  install(TARGETS kprcnn_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/python/kprcnn_export DESTINATION ${CMAKE_INSTALL_DATADIR}/kprcnn/python
    PATTERN __pycache__ EXCLUDE)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/models/face DESTINATION ${CMAKE_INSTALL_DATADIR}/kprcnn/models)
endif()

install(EXPORT kprcnnTargets NAMESPACE kprcnn:: DESTINATION ${KPRCNN_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/kprcnnConfig.cmake.in
  ${PROJECT_BINARY_DIR}/kprcnnConfig.cmake INSTALL_DESTINATION ${KPRCNN_CMAKE_DIR}
  PATH_VARS CMAKE_INSTALL_LIBDIR)
# 0.x: a minor release may change the API (SameMinorVersion); from 1.0 on SameMajorVersion.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/kprcnnConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/kprcnnConfig.cmake ${PROJECT_BINARY_DIR}/kprcnnConfigVersion.cmake
  DESTINATION ${KPRCNN_CMAKE_DIR})

# `cpack -G DEB` in the build folder (make deb): kprcnn_<version>_<arch>.deb installing under /opt/kprcnn (it
# bundles ONNX Runtime and OpenVINO, which must not collide with a distribution's copies in /usr/lib).
set(CPACK_PACKAGE_NAME kprcnn)
set(CPACK_PACKAGE_VENDOR "kprcnn")
set(CPACK_PACKAGE_CONTACT "kprcnn maintainers")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Keypoint R-CNN (torchvision) inference: library, CLI and HTTP server")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /opt/kprcnn)
set(CPACK_GENERATOR DEB)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
# The system libraries the binaries link (the bundled ONNX Runtime and OpenVINO are inside the package); python3
# with torch for `kprcnn export` is recommended, not required: prediction and serving do not need it.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libc6, libstdc++6, libjpeg62-turbo, libpng16-16, zlib1g, libmicrohttpd12")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "python3-torch, python3-torchvision, python3-onnx")
set(CPACK_DEBIAN_COMPRESSION_TYPE gzip)
include(CPack)

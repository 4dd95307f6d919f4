# Sanitizer and fuzzing instrumentation. Included before any target is defined, so that the library, the apps and
# the tests are all built the same way (a sanitized test linking an unsanitized library would miss its bugs).
#
#   KPRCNN_SANITIZE  e.g. "address,undefined": -fsanitize=<list> -fno-omit-frame-pointer -fno-sanitize-recover=all
#                    (every report is fatal, so a test fails on it). GCC or Clang. `make test-asan` uses it.
#   KPRCNN_FUZZ      libFuzzer targets under tests/fuzz (Clang only): adds -fsanitize=fuzzer-no-link everywhere
#                    (coverage feedback from our code) and defaults KPRCNN_SANITIZE to address,undefined.
# Build type `Sanitize` (make test-asan): -O1 -g1, ASan's recommended level, line numbers in reports. CPU seconds
# for the whole build + `ctest -L unit` on this project (g++ 12): -O2 -g 660 + 16, -O1 -g1 506 + 32, -O0 -g1 342 + 104;
# Clang 14 at -O1 -g1 with the fuzzer coverage too (make test-asan now): 328 + 50.
# ONNX Runtime, libjpeg-turbo and libpng are Debian's/Microsoft's prebuilt binaries, not instrumented: ASan still
# checks our reads and writes of their buffers, and what they leak at exit is suppressed (tests/sanitizers/).

# project() has already cached an empty CMAKE_CXX_FLAGS_SANITIZE when that is the build type: fill it unless set.
if(NOT CMAKE_CXX_FLAGS_SANITIZE)
  set(CMAKE_CXX_FLAGS_SANITIZE "-O1 -g1" CACHE STRING "Flags of the Sanitize build type (make test-asan)" FORCE)
endif()

if(KPRCNN_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "KPRCNN_FUZZ needs Clang (libFuzzer); configure a separate folder with it, e.g.\n"
                        "  CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DKPRCNN_FUZZ=ON\n"
                        "(Debian 12: apt-get install clang libclang-rt-14-dev), or run `make fuzz-build`.")
  endif()
  if(KPRCNN_SANITIZE STREQUAL "")
    set(KPRCNN_SANITIZE "address,undefined" CACHE STRING "Sanitizers (-fsanitize=...)" FORCE)
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
  add_link_options(-fsanitize=fuzzer-no-link)
endif()

if(NOT KPRCNN_SANITIZE STREQUAL "")
  if(NOT KPRCNN_SANITIZE MATCHES "^[a-z,_-]+$")
    message(FATAL_ERROR "KPRCNN_SANITIZE='${KPRCNN_SANITIZE}': expected a list such as address,undefined")
  endif()
  message(STATUS "kprcnn: building with -fsanitize=${KPRCNN_SANITIZE}")
  add_compile_options(-fsanitize=${KPRCNN_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${KPRCNN_SANITIZE})
endif()

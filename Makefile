# Thin wrapper over scripts/ and CMake. The README's two commands: `make demo` and `make test`.
BUILD ?= build

.PHONY: all setup build demo test test-unit test-asan fuzz-build fuzz fuzz-ci clean

all: build

setup build:
	scripts/setup.sh $(BUILD)

# Export a random-init demo checkpoint and annotate a generated sample image with it.
demo: build
	scripts/demo.sh $(BUILD)

# Every test: unit (C++ and Pillow comparisons), exporter, model parity with torchvision.
# Tests run side by side, one per core (ctest -j): much of the suite is single-threaded (PyTorch's tracing, pytest
# driving subprocesses), so two cores finish it in well under the serial time.
JOBS ?= $(shell nproc)
test: build
	cd $(BUILD) && ctest --output-on-failure --timeout 2400 -j $(JOBS)

# The fast subset (no PyTorch export).
test-unit: build
	cd $(BUILD) && ctest --output-on-failure -L unit -j $(JOBS)

# The speed benchmarks (bench/, never part of `make test`): bench/fast_mode.py (the fast mode's levers on the
# trained model, keypoint AP beside speed: ~12 min) then bench/run_bench.py (the seed's Python pipeline, PyTorch
# eager and kprcnn exact and fast on the trained model and a random resnet50_fpn, interleaved in one run: ~20 min
# with --reps 3, plus ~15 min of exports and INT8 quantisation the first time or after the exporter changed).
# Writes $(BUILD)/bench/report.md and fast-mode/fast-mode.md; BENCH_ARGS=--publish also updates
# bench/RESULTS.md and bench/FAST_MODE.md.
.PHONY: bench
bench: build
	bench/run.sh $(BUILD) $(BENCH_ARGS)

# The unit tests (C++ and the Python-driven ones, which run the sanitized CLI and tools) under AddressSanitizer +
# UndefinedBehaviorSanitizer + LeakSanitizer, in build-asan. Any report aborts the process (SIGABRT: never mistaken
# for one of the CLI's exit codes), so the test that triggered it fails. Built with Clang and libFuzzer's coverage
# instrumentation, so the same folder also holds the fuzz targets that `make fuzz-ci` runs. Without the OpenVINO
# engine: ASan cannot host OpenVINO's TBB (it dlopens tbbbind with RTLD_DEEPBIND, which the sanitizer runtime
# refuses); the OpenVINO tests run in `make test`, and this build checks the "built without OpenVINO" paths.
ASAN_BUILD ?= build-asan
SANITIZER_ENV = \
  ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1 \
  UBSAN_OPTIONS=abort_on_error=1:halt_on_error=1:print_stacktrace=1 \
  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/sanitizers/lsan.supp:print_suppressions=0
.PHONY: asan-build
asan-build:
	CC=clang CXX=clang++ KPRCNN_CMAKE_ARGS="$${KPRCNN_CMAKE_ARGS:-} -DCMAKE_BUILD_TYPE=Sanitize -DKPRCNN_FUZZ=ON -DKPRCNN_SANITIZE=address,undefined,float-cast-overflow -DKPRCNN_OPENVINO=OFF" \
	  $(SANITIZER_ENV) scripts/setup.sh $(ASAN_BUILD)
test-asan: asan-build
	cd $(ASAN_BUILD) && $(SANITIZER_ENV) ctest --output-on-failure -L unit -j $(JOBS)

# libFuzzer targets (tests/fuzz). `make fuzz`: each target FUZZ_SECONDS (600) with FUZZ_JOBS processes, in
# build-fuzz (-O2, no tests: the fastest executions); `make fuzz-ci` (CI): each target FUZZ_SECONDS (20), -seed=1,
# from the generated seeds and committed regressions, with the targets of the sanitizer build (build-asan).
FUZZ_BUILD ?= build-fuzz
fuzz-build:
	CC=clang CXX=clang++ KPRCNN_CMAKE_ARGS="$${KPRCNN_CMAKE_ARGS:-} -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKPRCNN_FUZZ=ON -DKPRCNN_BUILD_TESTS=OFF -DKPRCNN_OPENVINO=OFF" \
	  scripts/setup.sh $(FUZZ_BUILD)

fuzz: fuzz-build
	scripts/fuzz.sh $(FUZZ_BUILD) long

fuzz-ci: asan-build
	FUZZ_SECONDS=$${FUZZ_SECONDS:-20} scripts/fuzz.sh $(ASAN_BUILD) ci

# Install into PREFIX (default ~/.local): bin/kprcnn, the library + headers + CMake package, the exporter, the
# bundled engines (README, "Install"). The tree can be moved afterwards.
PREFIX ?= $(HOME)/.local
.PHONY: install deb
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

# A Debian package (build/kprcnn_<version>_amd64.deb) installing under /opt/kprcnn.
deb: build
	cd $(BUILD) && cpack -G DEB

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)

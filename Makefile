# Thin wrapper over scripts/ and CMake. The README's two commands: `make demo` and `make test`.
BUILD ?= build

.PHONY: all setup build demo test test-unit clean

all: build

setup build:
	scripts/setup.sh $(BUILD)

# Export a random-init demo checkpoint and annotate a generated sample image with it.
demo: build
	scripts/demo.sh $(BUILD)

# Every test: unit (C++ and Pillow comparisons), exporter, model parity with torchvision.
test: build
	cd $(BUILD) && ctest --output-on-failure --timeout 2400

# The fast subset (no PyTorch export).
test-unit: build
	cd $(BUILD) && ctest --output-on-failure -L unit

clean:
	rm -rf $(BUILD)

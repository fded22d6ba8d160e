# Entry points. `make demo` and `make test` work on a fresh Debian 12 machine: each installs the
# apt packages it needs (idempotent), configures and builds first.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: deps configure build demo test test-unit sanitize clean

deps:
	bash scripts/install-deps.sh

configure: deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)

build: configure
	cmake --build $(BUILD) -j $(JOBS)

# The main job. For now: the FrameSupplier benchmark.
demo: build
	./$(BUILD)/orion bench supplier

# Every test (unit, integration, system) through CTest.
test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600

test-unit: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L unit

# Unit tests under ThreadSanitizer, then AddressSanitizer + UBSan, each in its own build dir.
sanitize: deps
	bash scripts/sanitize.sh

clean:
	rm -rf build build-tsan build-asan

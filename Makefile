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

# The main job: `orion up` on the demo video (looped) when ../shared/assets has it, on a test
# pattern otherwise. Writes $(BUILD)/demo.yaml and prints the output URL; Ctrl-C stops it.
DEMO_VIDEO ?= ../shared/assets/vtest_480x360.mp4
demo: build
	@if [ -f "$(DEMO_VIDEO)" ]; then \
	  printf 'streams:\n  - {name: demo, url: "%s", loop: true}\n' "$$(realpath $(DEMO_VIDEO))" > $(BUILD)/demo.yaml; \
	else \
	  echo "demo: $(DEMO_VIDEO) not found, using a test pattern"; \
	  printf 'streams:\n  - {name: demo, url: "test://ball?width=640&height=360&fps=10"}\n' > $(BUILD)/demo.yaml; \
	fi
	./$(BUILD)/orion up --config $(BUILD)/demo.yaml

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

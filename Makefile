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
# pattern otherwise, with a person-detection pipeline in a worker process: YOLOX when the model
# is there, HOG otherwise. Writes $(BUILD)/demo.yaml, imports it into $(BUILD)/demo.db and prints
# where the API, the metrics and the RTSP output are; Ctrl-C stops it.
DEMO_VIDEO ?= ../shared/assets/vtest_480x360.mp4
DEMO_MODEL ?= ../shared/assets/yolox_nano.onnx
demo: build
	@if [ -f "$(DEMO_VIDEO)" ]; then \
	  printf 'streams:\n  - {name: demo, url: "%s", loop: true}\n' "$$(realpath $(DEMO_VIDEO))" > $(BUILD)/demo.yaml; \
	else \
	  echo "demo: $(DEMO_VIDEO) not found, using a test pattern"; \
	  printf 'streams:\n  - {name: demo, url: "test://ball?width=640&height=360&fps=10"}\n' > $(BUILD)/demo.yaml; \
	fi
	@if [ -f "$(DEMO_MODEL)" ]; then \
	  printf 'models:\n  - {name: yolox, kind: yolox, path: "%s"}\npipelines:\n  - {name: people, stream: demo, model: yolox, sla: critical, min_score: 0.3}\n' "$$(realpath $(DEMO_MODEL))" >> $(BUILD)/demo.yaml; \
	else \
	  echo "demo: $(DEMO_MODEL) not found, detecting people with HOG"; \
	  printf 'models:\n  - {name: hog, kind: hog}\npipelines:\n  - {name: people, stream: demo, model: hog, sla: critical}\n' >> $(BUILD)/demo.yaml; \
	fi
	./$(BUILD)/orion up --db sqlite://$(BUILD)/demo.db --config $(BUILD)/demo.yaml

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

# convdyn: `make demo` and `make test` are the two commands of the README's quick start.
BUILD      ?= build
BUILD_TYPE ?= Release
JOBS       ?= $(shell nproc)
DEMO_CKPT  ?= tests/fixtures/cordsnet_d4_param_module.pth
CMAKE_ARGS ?=

.PHONY: all deps configure build demo test clean

all: build

deps:
	@bash scripts/install-deps.sh

configure: deps
	@if [ ! -f $(BUILD)/CMakeCache.txt ]; then \
	  gen=$$(command -v ninja >/dev/null 2>&1 && echo "-G Ninja"); \
	  cmake -S . -B $(BUILD) $$gen -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_ARGS); \
	fi

build: configure
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	$(BUILD)/bin/convdyn inspect $(DEMO_CKPT)
	$(BUILD)/bin/convdyn spectrum $(DEMO_CKPT) --all --which LR --k 10 --vectors --out results.h5 --force

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

clean:
	rm -rf $(BUILD) results.h5

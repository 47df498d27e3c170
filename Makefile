# convdyn: `make demo` and `make test` are the two commands of the README's quick start.
BUILD      ?= build
BUILD_TYPE ?= Release
JOBS       ?= $(shell nproc)
DEMO_CKPT  ?= apps/demo/cordsnet_fmnist_d4.pth
DEMO_IMAGES ?= apps/demo/fmnist-t10k-16-images-idx3-ubyte.gz
DEMO_LABELS ?= apps/demo/fmnist-t10k-16-labels-idx1-ubyte.gz
CMAKE_ARGS ?=

.PHONY: all deps configure build demo test test-fast clean

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
	@# The verdict is the demo's result: exit 1 (UNSTABLE) or 3 (UNDECIDED) is an answer, 2 an error.
	$(BUILD)/bin/convdyn pseudospectrum $(DEMO_CKPT) --layer area_conv.1 --grid 60 --out results.h5 --append
	$(BUILD)/bin/convdyn run $(DEMO_CKPT) --images $(DEMO_IMAGES) --labels $(DEMO_LABELS) --record area_conv.3 \
	  --out results.h5 --append
	$(BUILD)/bin/convdyn stability $(DEMO_CKPT) --inputs $(DEMO_IMAGES) --limit 8 --out results.h5 --append; \
	  rc=$$?; [ $$rc -ne 2 ] || exit 2

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The developers' loop: everything but the tests labelled `slow` (end-to-end runs, notebooks, the long solver
# and CLI cases listed in tests/slow_tests.cmake); a few minutes on 2 cores. `make test` stays the full suite.
test-fast: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE slow

clean:
	rm -rf $(BUILD) results.h5

# ASan + UBSan build of convdyn and its tests (gcc, -DCONVDYN_SANITIZE=ON) in build-asan, then the whole ctest
# suite there. Not part of .ci/run: the instrumented build and suite take far longer than CI's budget allows
# (.ci/run runs `make test` and a short fuzz smoke); run it before merging changes to the readers.
# LibTorch, OpenBLAS and HDF5 are uninstrumented system libraries; tests/asan/lsan.supp lists the only
# suppressed reports (third-party leaks, by library name).
ASAN_BUILD ?= build-asan
ASAN_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0 \
  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/asan/lsan.supp:print_suppressions=0 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
.PHONY: test-asan
test-asan: deps
	@if [ ! -f $(ASAN_BUILD)/CMakeCache.txt ]; then \
	  gen=$$(command -v ninja >/dev/null 2>&1 && echo "-G Ninja"); \
	  cmake -S . -B $(ASAN_BUILD) $$gen -DCMAKE_BUILD_TYPE=Release -DCONVDYN_SANITIZE=ON $(CMAKE_ARGS); \
	fi
	nice -n 5 cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && $(ASAN_ENV) ctest --output-on-failure -j $(JOBS)

# libFuzzer targets (fuzz/, clang-14 + ASan/UBSan, build dir build-fuzz): builds them, then runs each for
# FUZZ_SECONDS; fails on any finding. See scripts/fuzz.sh.
FUZZ_SECONDS ?= 60
.PHONY: fuzz
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash scripts/fuzz.sh

# Thin wrapper over CMake so the README's commands are `make run` and `make check`.
# Everything real lives in CMakeLists.txt.
BUILD      ?= build
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE      ?= cmake
CTEST      ?= ctest
PREFIX     ?= /usr/local
FUZZ_SECONDS ?= 60
RUN_ARGS   ?= replay examples/boot.scn --compare-naive

CTEST_ARGS = --output-on-failure -j$(JOBS) $(if $(T),-R '$(T)')
# `make check` runs everything but the QEMU oracle tests (label qtest).
CHECK_ARGS = $(CTEST_ARGS) -LE qtest

.PHONY: all check run check-svg asan tsan fuzz bench install clean check-vm check-qtest check-vhost check-qemu

all: $(BUILD)/CMakeCache.txt
	$(CMAKE) --build $(BUILD) -j$(JOBS)

$(BUILD)/CMakeCache.txt:
	$(CMAKE) -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX)

check: all
	$(CTEST) --test-dir $(BUILD) $(CHECK_ARGS)

# viommu's device models against QEMU's own, over the qtest protocol
# (tests/qtest/). Installs Debian's QEMU if it is missing; a missing QEMU is
# then a failure, never a skip.
check-qtest: all
	./tests/qtest/ensure-qemu.sh
	VIOMMU_QTEST_REQUIRED=1 $(CTEST) --test-dir $(BUILD) $(CTEST_ARGS) -L qtest

# Build only the CLI and the library, quietly: the build's output is shown
# only if it fails (it is kept in $(BUILD)/cli-build.log).
define build_cli
	@mkdir -p $(BUILD); log=$(BUILD)/cli-build.log; \
	{ [ -f $(BUILD)/CMakeCache.txt ] || $(CMAKE) -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX); } >$$log 2>&1 && \
	$(CMAKE) --build $(BUILD) -j$(JOBS) --target viommu_cli >>$$log 2>&1 || \
	{ cat $$log; echo "make $@: the build failed (its output is above and in $$log)"; exit 1; }
endef

# The main job.
run:
	$(build_cli)
	@$(abspath $(BUILD))/viommu $(RUN_ARGS)

# `viommu replay --svg` rendered by Debian's chromium, headless (installed
# if missing; tests/svg/run.sh).
check-svg:
	$(build_cli)
	./tests/svg/run.sh $(abspath $(BUILD)) $(CURDIR)

asan:
	$(CMAKE) -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DVIOMMU_SANITIZE=ON
	$(CMAKE) --build build-asan -j$(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  $(CTEST) --test-dir build-asan $(CHECK_ARGS)

tsan:
	$(CMAKE) -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DVIOMMU_TSAN=ON
	$(CMAKE) --build build-tsan -j$(JOBS)
	$(CTEST) --test-dir build-tsan $(CHECK_ARGS)

# libFuzzer targets need clang; each runs for FUZZ_SECONDS on its corpus.
fuzz:
	@command -v clang >/dev/null || { echo "make fuzz needs clang (apt-get install clang)"; exit 1; }
	CC=clang $(CMAKE) -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DVIOMMU_FUZZ=ON -DBUILD_TESTING=OFF
	$(CMAKE) --build build-fuzz -j$(JOBS)
	@set -e; for f in build-fuzz/fuzz_*; do \
	  n=$${f#build-fuzz/fuzz_}; mkdir -p build-fuzz/corpus-$$n; \
	  echo "== $$f ($(FUZZ_SECONDS)s)"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 build-fuzz/corpus-$$n fuzz/corpus/$$n; \
	done

# bench_iotlb measures against QEMU's IOTLB on GLib: install libglib2.0-dev
# from Debian's archive if it is missing (as tests/vm does for its packages).
bench:
	@pkg-config --exists glib-2.0 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "bench: installing libglib2.0-dev for bench_iotlb's QEMU baseline"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends libglib2.0-dev >/dev/null || \
	    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
	      apt-get install -y -q --no-install-recommends libglib2.0-dev >/dev/null; } || \
	    echo "bench: could not install libglib2.0-dev; bench_iotlb is skipped"; \
	  else echo "bench: bench_iotlb needs libglib2.0-dev (apt-get install libglib2.0-dev); skipped"; fi; }
	$(CMAKE) -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF
	$(CMAKE) --build build-bench -j$(JOBS)
	@set -e; for b in build-bench/bench_*; do echo "== $$b"; $$b $(BENCH_ARGS); done

install: all
	$(CMAKE) --install $(BUILD) --prefix $(PREFIX)

check-vm: all
	./tests/vm/run.sh

# A Linux guest's block I/O through QEMU 10.0.2's intel-iommu device TLB into
# `viommu vhost-user-blk` (QEMU fetched from bookworm-backports into the cache).
check-vhost: all
	./tests/vhost/run.sh

# The tests/vm guests with their IOMMU on viommu's models inside QEMU 10.0.2
# built with qemu/ (cached by hash; tests/qemu/run.sh).
check-qemu: all
	./tests/qemu/run.sh --build $(BUILD)

clean:
	rm -rf build build-asan build-tsan build-fuzz build-bench

# Thin wrapper over CMake. `make demo` and `make test` install what they need.
JOBS ?= $(shell nproc)
BUILD ?= build
SAN_BUILD ?= build-san

.PHONY: all build demo test test-fast test-san fuzz bench clean format install

all: build

build:
	@scripts/install-deps.sh build
	cmake -S . -B $(BUILD) -DSTRATA_WERROR=ON >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	@scripts/install-deps.sh demo
	scripts/demo.sh $(BUILD)/strata

# Every test: a plain build, then the same suite under ASan+UBSan built with
# clang, which also builds the libFuzzer targets and smoke-runs each.
test:
	@scripts/install-deps.sh test
	$(MAKE) test-fast
	$(MAKE) test-san

test-fast: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-san:
	CC=clang cmake -S . -B $(SAN_BUILD) -DSTRATA_SANITIZE=ON -DSTRATA_FUZZ=ON -DSTRATA_WERROR=ON >/dev/null
	cmake --build $(SAN_BUILD) -j $(JOBS)
	cd $(SAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS)

# Long fuzzing runs: FUZZ_SECONDS per target (default 60); FUZZ_RUNS stops
# each after that many executions instead (FUZZ_SECONDS=0: no time bound);
# FUZZ_ONLY picks targets by name (scripts/fuzz.sh).
FUZZ_SECONDS ?= 60
FUZZ_RUNS ?=
fuzz:
	@scripts/install-deps.sh test
	CC=clang cmake -S . -B $(SAN_BUILD) -DSTRATA_SANITIZE=ON -DSTRATA_FUZZ=ON >/dev/null
	cmake --build $(SAN_BUILD) -j $(JOBS)
	scripts/fuzz.sh $(SAN_BUILD) $(FUZZ_SECONDS) $(FUZZ_RUNS)

# PREFIX (default /usr/local) and DESTDIR as usual: the units and strata.pc
# name PREFIX's paths, so a build configured for one prefix installs there.
PREFIX ?= /usr/local
install:
	@scripts/install-deps.sh build
	cmake -S . -B $(BUILD) -DSTRATA_WERROR=ON -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)
	cmake --install $(BUILD)

bench: build
	scripts/bench.sh $(BUILD)

format:
	clang-format -i include/strata/*.h core/*.c core/*.h host/*.c host/*.h cmd/*.c cmd/*.h tests/*/*.c fuzz/*.c bench/*.c 2>/dev/null || true

clean:
	rm -rf $(BUILD) $(SAN_BUILD)

# Thin wrapper over CMake for the common tasks. Everything real lives in CMakeLists.txt.
#
#   make            build (gcc, RelWithDebInfo) into build/
#   make test       build and run every ctest test (unit, fuzz corpus replay, integration)
#   make asan       clang + ASan/UBSan build in build-asan/, unit tests and corpus replay
#   make fuzz       clang + libFuzzer build in build-fuzz/, each target for FUZZ_SECONDS
#   make lint       clang-format, cppcheck and clang-tidy over the sources
#   make check      all of the above: what CI runs
#   make demo       the main job: hub-spoke.yaml live in network namespaces (deploy/demo.sh,
#                   root): tunnels, a spoke-to-spoke ping, a hub failover; the lab stays up
#   make bench      run the benchmarks under tests/bench/ and print their figures

JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 20
SOURCES = $(shell git ls-files '*.c' '*.h' 2>/dev/null || find common controller edge tests -name '*.[ch]')

.PHONY: all build test asan asan-build fuzz lint check demo bench clean

all: build

build/Makefile: CMakeLists.txt
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: build/Makefile
	cmake --build build -j $(JOBS)

test: build
	cd build && ctest --output-on-failure -j $(JOBS)

asan-build:
	cmake -S . -B build-asan -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
		-DSDWAN_SANITIZE=ON -DSDWAN_BENCH=OFF
	cmake --build build-asan -j $(JOBS)

asan: asan-build
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS) -L 'unit|fuzz'

fuzz:
	cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DSDWAN_FUZZ=ON
	cmake --build build-fuzz -j $(JOBS)
	tests/fuzz/run-all.sh build-fuzz/fuzz $(FUZZ_SECONDS)

# clang-tidy reads the clang build's compile database (build-asan), so both compilers are covered.
lint: build asan-build
	clang-format --dry-run -Werror $(filter %.c %.h,$(SOURCES))
	cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,performance,portability \
		--inline-suppr -I . -D__GNUC__ --suppress=missingIncludeSystem --suppress=missingInclude \
		$(filter %.c,$(filter common/% controller/% edge/%,$(SOURCES)))
	tests/lint/clang-tidy.sh build-asan $(JOBS)

check: test asan fuzz lint

demo: build
	deploy/demo.sh

bench: build
	tests/bench/run-all.sh build/bin

clean:
	rm -rf build build-asan build-fuzz

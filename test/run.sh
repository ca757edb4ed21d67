#!/bin/bash
# Run kiln's whole test suite on this machine, set-up included:
#   1. install the Debian packages it needs (test/tools/install-deps.sh)
#   2. build the static executor (build-static/, -DKILN_STATIC=ON)
#   3. build the test build (build/, sanitizers on, warnings are errors)
#   4. make the base-image fixtures (cached per machine)
#   5. run every test with ctest
# Prints the time of each phase. Exits non-zero on any failure.
# KILN_TEST_JOBS sets ctest's parallelism (default: number of cores).
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$src"
jobs=${KILN_TEST_JOBS:-$(nproc)}
t_start=$SECONDS
phase_start=$SECONDS

phase() {
	local now=$SECONDS
	if [ -n "${phase_name:-}" ]; then
		printf '=== phase %-22s %4ds\n' "$phase_name" $((now - phase_start))
	fi
	phase_name=$1
	phase_start=$now
	[ -n "$phase_name" ] && printf '=== phase %s\n' "$phase_name"
	return 0
}

phase deps
bash test/tools/install-deps.sh

phase static-build
cmake -S . -B build-static -DKILN_STATIC=ON -DKILN_TESTS=OFF -DKILN_WERROR=ON \
	-DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-static -j "$(nproc)"

phase test-build
cmake -S . -B build -DKILN_SANITIZE=ON -DKILN_WERROR=ON >/dev/null
cmake --build build -j "$(nproc)"

phase bench-build
cmake -S . -B build-bench -DKILN_WERROR=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-bench -j "$(nproc)"

phase fixtures
bash test/fixtures/busybox.sh >/dev/null
bash test/fixtures/debian.sh >/dev/null

phase fuzz
KILN_FUZZ_SEED=${KILN_FUZZ_SEED:-1} bash test/fuzz/run.sh "${KILN_FUZZ_SECONDS:-60}"

phase ctest
export KILN_STATIC_EXECUTOR="$src/build-static/executor"
status=0
(cd build && ctest -j "$jobs" --output-on-failure --timeout 1800) || status=$?

phase bench
# quick mode, one at a time so they do not skew each other; ratios printed
(cd build-bench && ctest -L bench -V --timeout 1800 | grep -Ev '^(UpdateCTest|Test project|Constructing|Checking|Updating)') || status=$?

phase ""
echo "=== total $((SECONDS - t_start))s"
exit $status

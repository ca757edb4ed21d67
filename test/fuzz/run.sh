#!/bin/bash
# Build kiln's libFuzzer targets with clang in build-fuzz/ and run each one
# for SECONDS (default 60), failing on any crash, leak, timeout or sanitizer
# report.
#
#   test/fuzz/run.sh [SECONDS]
#
# Each target starts from a temporary copy of test/fuzz/corpus/<name>/ (and
# uses test/fuzz/<name>.dict when present), so inputs found while fuzzing
# never land in the repository. A failing target's crash input and log are
# kept in $KILN_FUZZ_ARTIFACTS (default: build-fuzz/artifacts/) for
# `build-fuzz/test/fuzz/fuzz-<name> <crash-file>` to reproduce.
#
# Environment:
#   KILN_FUZZ_TARGETS   targets to run (default: dockerfile expand dockerignore)
#   KILN_FUZZ_PARALLEL  1: run the targets at the same time (default: one by one)
#   KILN_FUZZ_BUILD     build directory (default: <source>/build-fuzz)
#   KILN_FUZZ_SEED      libFuzzer's -seed (default: random); the test suite
#                       fixes it so that a CI run explores the same inputs
#                       each time and a red run can be reproduced
# Needs the packages in test/fuzz/packages.txt (clang, libclang-rt-14-dev).
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
secs=${1:-60}
if ! [[ $secs =~ ^[0-9]+$ ]] || ((secs == 0)); then
	echo "usage: $0 [SECONDS]" >&2
	exit 2
fi
read -r -a targets <<<"${KILN_FUZZ_TARGETS:-dockerfile expand dockerignore}"
build=${KILN_FUZZ_BUILD:-$src/build-fuzz}
seed=()
[[ -n ${KILN_FUZZ_SEED:-} ]] && seed=("-seed=$KILN_FUZZ_SEED")
artifacts=${KILN_FUZZ_ARTIFACTS:-$build/artifacts}
command -v clang >/dev/null || {
	echo "run.sh: clang not found; install: $(grep -v '^#' "$src/test/fuzz/packages.txt" | xargs)" >&2
	exit 1
}

cmake -S "$src" -B "$build" -DCMAKE_C_COMPILER=clang -DKILN_FUZZ=ON -DKILN_TESTS=OFF \
	-DKILN_SANITIZE=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)" --target "${targets[@]/#/fuzz-}"

work=$(mktemp -d "${TMPDIR:-/tmp}/kiln-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

# fuzz NAME: run one target; its log and any crash input stay in $work/NAME.
fuzz() {
	local name=$1 dir=$work/$1 dict=() rc=0
	mkdir -p "$dir/corpus"
	if [[ -d $src/test/fuzz/corpus/$name ]]; then
		cp -R "$src/test/fuzz/corpus/$name/." "$dir/corpus/"
	fi
	if [[ -f $src/test/fuzz/$name.dict ]]; then
		dict=("-dict=$src/test/fuzz/$name.dict")
	fi
	# -timeout: one input taking 25 s is a hang; -rss_limit_mb: a memory
	# blow-up is a bug too (every kiln module caps what it allocates)
	"$build/test/fuzz/fuzz-$name" "${dict[@]}" "${seed[@]}" -max_total_time="$secs" -timeout=25 \
		-rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
		-artifact_prefix="$dir/" "$dir/corpus" >"$dir/log" 2>&1 || rc=$?
	return $rc
}

# report NAME RC: one summary line; on failure keep the evidence.
report() {
	local name=$1 rc=$2 dir=$work/$1 runs
	runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$dir/log" | grep -Eo '[0-9]+$' || echo '?')
	if ((rc == 0)); then
		printf 'fuzz-%-13s ok   %ss, %s runs, corpus %s inputs\n' "$name" "$secs" "$runs" \
			"$(find "$dir/corpus" -type f | wc -l)"
		return 0
	fi
	mkdir -p "$artifacts"
	cp "$dir/log" "$artifacts/fuzz-$name.log"
	find "$dir" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
		-o -name 'oom-*' \) -exec cp {} "$artifacts/" \;
	printf 'fuzz-%-13s FAIL (exit %d); log and inputs in %s\n' "$name" "$rc" "$artifacts"
	grep -E 'ERROR|SUMMARY|Test unit written' "$dir/log" | head -5 | sed 's/^/    /'
	return 1
}

status=0
if [[ ${KILN_FUZZ_PARALLEL:-0} == 1 ]]; then
	declare -A pids
	for t in "${targets[@]}"; do
		fuzz "$t" &
		pids[$t]=$!
	done
	for t in "${targets[@]}"; do
		rc=0
		wait "${pids[$t]}" || rc=$?
		report "$t" "$rc" || status=1
	done
else
	for t in "${targets[@]}"; do
		rc=0
		fuzz "$t" || rc=$?
		report "$t" "$rc" || status=1
	done
fi
exit $status

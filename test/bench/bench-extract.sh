#!/bin/bash
# bench-extract: kiln's extractor against `tar -xzf` on the same gzip
# layer, in one run. The tree mimics a root file system: ~93,000 small
# files (2 KiB) and ~840 large ones (1 MiB), ~1 GiB, compressing about 1.4x
# (a quarter is random bytes). Both extract into fresh directories on the same file
# system from a layer in the page cache; times are medians of 3 runs taken
# alternately, and the ratio kiln/tar is printed (below 1 means faster).
# --quick uses a tenth of the tree (CI); no threshold is applied.
#
# Usage: bench-extract.sh [--quick]   (KILN_EXECUTOR: build/executor; use a
# build without sanitizers for meaningful numbers)
set -euo pipefail
exe=${KILN_EXECUTOR:-$(cd "$(dirname "$0")/../.." && pwd)/build/executor}
scale=10
[[ ${1:-} == --quick ]] && scale=1
runs=3
work=$(mktemp -d "${KILN_TEST_TMP:-/tmp}/kiln-bench-extract.XXXXXX")
trap 'rm -rf --one-file-system "$work"' EXIT

# A 64 MiB pool: a quarter random bytes, three quarters hex text of random
# bytes, so gzip gets roughly the ratio it gets on binaries and text.
make_pool() {
	head -c 16M /dev/urandom >"$work/pool"
	head -c 16M /dev/urandom | od -An -tx1 -v >"$work/hex"
	cut_pool "$work/hex" 0 48M >>"$work/pool"
	rm "$work/hex"
}

# cut_pool FILE OFFSET LENGTH: bytes of FILE to stdout (dd, not tail|head,
# whose early exit would fail the pipeline under pipefail).
cut_pool() {
	dd if="$1" bs=1M skip="$2" count="$3" iflag=skip_bytes,count_bytes status=none
}

# make_tree: 9*scale dirs of 1,024 x 2 KiB files, scale dirs of 84 x 1 MiB,
# cut from the pool at different offsets by split(1), one process per dir.
make_tree() {
	local d
	mkdir -p "$work/tree"
	for ((d = 0; d < 10 * scale; d++)); do
		mkdir -p "$work/tree/d$d/sub"
		if ((d % 10 < 9)); then
			cut_pool "$work/pool" $((d * 40961 % (60 << 20))) 2M |
				split -a 3 -b 2K - "$work/tree/d$d/sub/f"
		else
			cut_pool "$work/pool" $((d * 7919 % (8 << 20))) 56M |
				split -a 3 -b 1M - "$work/tree/d$d/big"
			cut_pool "$work/pool" 0 28M | split -a 3 -b 1M - "$work/tree/d$d/sub/big"
		fi
	done
}

now() { date +%s.%N; }

# time_one CMD...: seconds taken by CMD (into a fresh $work/out).
time_one() {
	local t0 t1
	rm -rf --one-file-system "$work/out"
	mkdir "$work/out"
	sync
	t0=$(now)
	"$@" >/dev/null
	t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}

median() { printf '%s\n' "$@" | sort -g | sed -n "$((($# + 1) / 2))p"; }

make_pool
make_tree
files=$(find "$work/tree" -type f | wc -l)
bytes=$(du -sb "$work/tree" | cut -f1)
tar -C "$work/tree" -cf - . | gzip -6 >"$work/layer.tar.gz"
gz=$(stat -c %s "$work/layer.tar.gz")
rm -rf --one-file-system "$work/tree"
cat "$work/layer.tar.gz" >/dev/null # in the page cache for both

kiln=() tarx=() seeded=()
for ((i = 0; i < runs; i++)); do
	tarx+=("$(time_one tar -xzf "$work/layer.tar.gz" -C "$work/out")")
	kiln+=("$(time_one "$exe" debug extract --root "$work/out" "$work/layer.tar.gz")")
	# the build's path: a snapshot table seeded while writing (plus the
	# snapshot that checks it, which reads no file content again)
	seeded+=("$(time_one "$exe" debug extract --root "$work/out" --seed-check \
		"$work/layer.tar.gz")")
done
k=$(median "${kiln[@]}")
s=$(median "${seeded[@]}")
t=$(median "${tarx[@]}")
printf 'extract: %d files, %d MiB in a %d MiB tar.gz\n' "$files" $((bytes >> 20)) $((gz >> 20))
printf '  tar -xzf          %6.2f s\n' "$t"
printf '  kiln debug extract %6.2f s   ratio kiln/tar %.2f\n' "$k" "$(awk -v k="$k" -v t="$t" 'BEGIN { print k / t }')"
printf '  kiln, seeding      %6.2f s   ratio kiln/tar %.2f\n' "$s" "$(awk -v k="$s" -v t="$t" 'BEGIN { print k / t }')"

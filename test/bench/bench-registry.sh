#!/bin/bash
# bench-registry: push and pull of one synthetic image (20 layers of
# incompressible bytes, 300 MB; test/tools/make-layout.py) through loopback
# to a fresh registry fixture (Debian's docker-registry on 127.0.0.1), timed
# for kiln (`executor debug push` / `debug pull`) against `skopeo copy` of the
# same image in the same run (oci: -> docker:// and back). Each run uses a
# fresh registry, so nothing is skipped as already there or mounted; runs
# alternate which tool goes first, and the medians of 3 runs are printed with the ratio
# kiln/skopeo (below 1 means kiln is faster) and the peak RSS of each tool
# (/usr/bin/time -f %M, Debian's package `time`; the issue's target for
# kiln: under 32 MiB whatever the image size). --quick: 20 layers of 30 MB
# in all (CI). No threshold is applied.
#
# Usage: bench-registry.sh [--quick]   (KILN_EXECUTOR: build/executor; use a
# build without sanitizers for meaningful numbers)
set -euo pipefail
# shellcheck source=test/tools/lib.sh
. "${KILN_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/test/tools/lib.sh"
# shellcheck source=test/tools/registry.sh
. "$KILN_SOURCE_DIR/test/tools/registry.sh"

layers=20 layer_bytes=15000000
[[ ${1:-} == --quick ]] && layer_bytes=1500000
runs=3
kiln_require_cmd docker-registry skopeo python3
[[ -x /usr/bin/time ]] || kiln_skip "no /usr/bin/time (Debian package 'time')"
exe=${KILN_EXECUTOR:-$KILN_SOURCE_DIR/build/executor}
[[ -x $exe ]] || kiln_die "no executor at '$exe' (set KILN_EXECUTOR)"
kiln_make_tmpdir
work=$KILN_TMPDIR
python3 "$KILN_SOURCE_DIR/test/tools/make-layout.py" "$work/img" "$layers" "$layer_bytes" --seed 11 >/dev/null
bytes=$(du -sb "$work/img/blobs" | cut -f1)
cat "$work/img/blobs/sha256/"* >/dev/null # in the page cache for both

now() { date +%s.%N; }

# measure CMD...: run CMD under /usr/bin/time; print "SECONDS PEAK_RSS_KIB".
measure() {
	local t0 t1
	t0=$(now)
	/usr/bin/time -f %M -o "$work/rss" "$@" >/dev/null 2>"$work/cmd.err" ||
		kiln_die "$* failed: $(tail -5 "$work/cmd.err")"
	t1=$(now)
	awk -v a="$t0" -v b="$t1" -v r="$(tail -1 "$work/rss")" 'BEGIN { printf "%.3f %d\n", b - a, r }'
}

median() { printf '%s\n' "$@" | sort -g | sed -n "$((($# + 1) / 2))p"; }
max() { printf '%s\n' "$@" | sort -g | tail -1; }

declare -A secs=() rss=()
# one OP TOOL RUN: time one push or pull (/usr/bin/time runs the command
# itself, not a shell function), remember its seconds and peak RSS.
one() {
	local op=$1 tool=$2 i=$3 m cmd
	rm -rf --one-file-system "$work/pull-$tool"
	case $op.$tool in
	push.kiln) cmd=("$exe" debug push "$work/img" "$reg/bench/kiln-$i:1") ;;
	push.skopeo) cmd=(skopeo --insecure-policy copy --quiet --dest-tls-verify=false
		"oci:$work/img:latest" "docker://$reg/bench/skopeo-$i:1") ;;
	pull.kiln) cmd=("$exe" debug pull "$reg/bench/kiln-$i:1" --output "$work/pull-kiln") ;;
	pull.skopeo) cmd=(skopeo --insecure-policy copy --quiet --src-tls-verify=false
		"docker://$reg/bench/skopeo-$i:1" "oci:$work/pull-skopeo:latest") ;;
	esac
	m=$(measure "${cmd[@]}")
	secs[$op.$tool]+=" ${m% *}"
	rss[$op.$tool]+=" ${m#* }"
}

# Each run gets a fresh registry: skopeo remembers where it saw a blob
# (its blob-info cache) and would mount it from an earlier run's repository
# instead of uploading it.
for ((i = 0; i < runs; i++)); do
	kiln_registry_start || kiln_die "could not start the registry fixture"
	reg=$KILN_REGISTRY
	for op in push pull; do
		if ((i % 2 == 0)); then
			one "$op" kiln "$i"
			one "$op" skopeo "$i"
		else
			one "$op" skopeo "$i"
			one "$op" kiln "$i"
		fi
	done
	kiln_registry_stop
done
# The pulled image is the pushed one, every blob.
for f in "$work/img/blobs/sha256/"*; do
	cmp -s "$f" "$work/pull-kiln/blobs/sha256/${f##*/}" || kiln_die "kiln pulled a different ${f##*/}"
done

printf 'registry bench: %d layers, %d MB, %d runs each (median), loopback\n' \
	"$layers" $((bytes / 1000000)) "$runs"
for op in push pull; do
	# shellcheck disable=SC2086 # word lists
	k=$(median ${secs[$op.kiln]}) s=$(median ${secs[$op.skopeo]})
	# shellcheck disable=SC2086
	kr=$(max ${rss[$op.kiln]}) sr=$(max ${rss[$op.skopeo]})
	awk -v op="$op" -v k="$k" -v s="$s" -v kr="$kr" -v sr="$sr" -v b="$bytes" 'BEGIN {
		printf "%s: kiln %.2f s (%.0f MB/s), skopeo %.2f s (%.0f MB/s), ratio kiln/skopeo %.2f; peak RSS kiln %.1f MiB, skopeo %.1f MiB\n",
			op, k, b / k / 1e6, s, b / s / 1e6, k / s, kr / 1024, sr / 1024 }'
done

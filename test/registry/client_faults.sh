#!/bin/bash
# integration.client_faults: kiln's registry client through a proxy that
# misbehaves on purpose (test/tools/fault-proxy.py, fixed seed): answers 500
# or 429 (Retry-After: 1), drops connections in the middle of blob uploads,
# truncates blob downloads.
#  - with retries, a push and a pull of a 6-layer image (~12 MiB) through the
#    proxy complete, every digest verified (kiln checks each byte pulled, the
#    registry each byte pushed; skopeo and sha256sum check again), while the
#    proxy log shows faults of every kind were injected;
#  - with --retries 0 each kind of fault fails the command at once with a
#    clear message and no digest on stdout, and no unverified blob is kept.
set -euo pipefail
# shellcheck source=test/tools/lib.sh
. "${KILN_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/test/tools/lib.sh"
# shellcheck source=test/tools/registry.sh
. "$KILN_SOURCE_DIR/test/tools/registry.sh"
# shellcheck source=test/tools/servers.sh
. "$KILN_SOURCE_DIR/test/tools/servers.sh"

kiln_require_cmd docker-registry skopeo curl jq python3 sha256sum
exe=${KILN_EXECUTOR:-$KILN_SOURCE_DIR/build/executor}
[[ -x $exe ]] || kiln_die "no executor at '$exe' (set KILN_EXECUTOR)"
kiln_make_tmpdir
work=$KILN_TMPDIR
kiln_registry_start || kiln_die "could not start the registry fixture"
reg=$KILN_REGISTRY
want=$(python3 "$KILN_SOURCE_DIR/test/tools/make-layout.py" "$work/img" 6 2000000 --seed 3)

# count KIND: how many faults of KIND the current proxy injected.
count() { grep -c -- "-> $1" "$KILN_PROXY_LOG" || true; }

# With retries: everything arrives, verified.
kiln_fault_proxy_start "$work/p1" "$reg" --seed 7 \
	--rate 500=0.05 --rate 429=0.05 --rate drop=0.2 --rate truncate=0.25
start=$SECONDS
got=$("$exe" debug push --retries 8 "$work/img" "$KILN_PROXY/faults/img:1" 2>"$work/push.err") ||
	kiln_die "push through the fault proxy failed: $(cat "$work/push.err")"
kiln_assert_eq "$want" "$got" "digest printed by push"
kiln_assert_eq "$want" "$(kiln_skopeo inspect --tls-verify=false "docker://$reg/faults/img:1" | jq -r .Digest)" \
	"digest of the pushed image (asked directly)"
push_faults="500: $(count 500), 429: $(count 429), drop: $(count drop)"
kiln_log "push: $(wc -l <"$KILN_PROXY_LOG") requests, faults $push_faults, $((SECONDS - start)) s"
(($(count drop) > 0)) || kiln_die "no upload was dropped: the test proves nothing"

: >"$KILN_PROXY_LOG"
start=$SECONDS
got=$("$exe" debug pull --retries 8 "$KILN_PROXY/faults/img:1" --output "$work/pulled" 2>"$work/pull.err") ||
	kiln_die "pull through the fault proxy failed: $(cat "$work/pull.err")"
kiln_assert_eq "$want" "$got" "digest printed by pull"
for f in "$work/img/blobs/sha256/"*; do
	b=$(basename "$f")
	cmp "$f" "$work/pulled/blobs/sha256/$b" || kiln_die "pulled blob $b differs"
	kiln_assert_eq "$b" "$(sha256sum <"$work/pulled/blobs/sha256/$b" | cut -d' ' -f1)" "sha256 of $b"
done
kiln_log "pull: $(wc -l <"$KILN_PROXY_LOG") requests, faults 500: $(count 500), 429: $(count 429)," \
	"truncate: $(count truncate), $((SECONDS - start)) s"
(($(count truncate) > 0)) || kiln_die "no download was truncated: the test proves nothing"
grep -q 'resuming at byte' "$work/pull.err" || kiln_die "no resumed download reported"
kiln_server_stop "$KILN_SERVER_PID"

# Without retries: each kind of fault is fatal, and said so.
# expect_fail NAME PATTERN CMD...: CMD fails, prints no digest, and its
# error matches PATTERN.
expect_fail() {
	local name=$1 pattern=$2
	shift 2
	if "$@" >"$work/$name.out" 2>"$work/$name.err"; then
		kiln_die "$name: succeeded with --retries 0"
	fi
	[[ ! -s $work/$name.out ]] || kiln_die "$name: printed a digest"
	grep -qE -- "$pattern" "$work/$name.err" || kiln_die "$name: unexpected error: $(cat "$work/$name.err")"
	kiln_log "$name: $(head -1 "$work/$name.err")"
}
kiln_fault_proxy_start "$work/p2" "$reg" --rate truncate=1 --only '^GET .*/blobs/sha256:'
expect_fail truncated "blob sha256:[0-9a-f]{64} of '$KILN_PROXY/faults/img'.*(transfer closed|Partial|partial)" \
	"$exe" debug pull --retries 0 "$KILN_PROXY/faults/img:1" --output "$work/t"
(($(count truncate) == 1)) || kiln_die "truncated: $(count truncate) attempts, want 1 (no retry)"
bad=$(grep -oE 'blob sha256:[0-9a-f]{64}' "$work/truncated.err" | head -1)
[[ ! -e $work/t/blobs/sha256/${bad#blob sha256:} ]] || kiln_die "truncated: the unverified blob was kept"
[[ ! -e $work/t/index.json ]] || kiln_die "truncated: a failed pull wrote index.json"

kiln_fault_proxy_start "$work/p3" "$reg" --rate drop=1
expect_fail dropped "push blob sha256:[0-9a-f]{64} to '$KILN_PROXY/dropped/img'" \
	"$exe" debug push --retries 0 --parallel 1 "$work/img" "$KILN_PROXY/dropped/img:1"
# libcurl itself resends once a request whose reused connection died
# before any answer; kiln adds no attempt: all drops are one upload's.
(($(count drop) <= 2)) || kiln_die "dropped: $(count drop) uploads dropped, want 1 or 2 (no retry)"
kiln_assert_eq 1 "$(grep -- '-> drop' "$KILN_PROXY_LOG" | grep -oE 'digest=sha256:[0-9a-f]+' | sort -u | wc -l)" \
	"blobs whose upload was dropped"

kiln_fault_proxy_start "$work/p4" "$reg" --rate 429=1 --only 'manifests'
expect_fail throttled "HTTP 429 too many requests: UNAVAILABLE: injected by fault-proxy" \
	"$exe" debug pull --retries 0 "$KILN_PROXY/faults/img:1" --output "$work/r"

kiln_fault_proxy_start "$work/p5" "$reg" --rate 500=1 --only 'POST'
expect_fail server-error "HTTP 500 server error" \
	"$exe" debug push --retries 0 "$work/img" "$KILN_PROXY/failing/img:1"
kiln_log "PASS"

#!/bin/bash
# integration.client_mirrors: pulls through --registry-map and
# --registry-mirror, with two local registries: an "original" and a
# "mirror".
#  - the mirror holds the image, the original does not: the pull is served
#    by the mirror alone (the original's log shows no request for it), blobs
#    included;
#  - the mirror lacks it, the original has it: the mirror is asked, a
#    warning says so, the original serves it;
#  - the same with --skip-default-registry-fallback: fails, saying the
#    original was not tried;
#  - a path prefix (orig=mirror/cache) and several targets (';'), in order;
#  - Docker Hub references (busybox:1 = docker.io/library/busybox:1) go to
#    --registry-mirror host/prefix, never to the network
#    (--skip-default-registry-fallback);
#  - a malformed map fails before any request.
set -euo pipefail
# shellcheck source=test/tools/lib.sh
. "${KILN_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/test/tools/lib.sh"
# shellcheck source=test/tools/registry.sh
. "$KILN_SOURCE_DIR/test/tools/registry.sh"

kiln_require_cmd docker-registry skopeo curl jq
exe=${KILN_EXECUTOR:-$KILN_SOURCE_DIR/build/executor}
[[ -x $exe ]] || kiln_die "no executor at '$exe' (set KILN_EXECUTOR)"
kiln_make_tmpdir
work=$KILN_TMPDIR
kiln_registry_start || kiln_die "could not start the original registry"
orig=$KILN_REGISTRY orig_log=$KILN_REGISTRY_LOG
kiln_registry_start || kiln_die "could not start the mirror registry"
mirror=$KILN_REGISTRY mirror_log=$KILN_REGISTRY_LOG
kiln_fixture_push busybox "$mirror" app/busybox:1
kiln_fixture_push busybox "$mirror" cache/app/busybox:1
kiln_fixture_push busybox "$mirror" hub/library/busybox:1
kiln_fixture_push busybox "$orig" only-orig/busybox:1
want=$(jq -r '.manifests[0].digest' "$KILN_FIXTURE_DIR/index.json")

# pull NAME ARGS...: debug pull into $work/NAME, output in $work/NAME.{out,err}.
pull() {
	local name=$1
	shift
	"$exe" debug pull "$@" --output "$work/$name" >"$work/$name.out" 2>"$work/$name.err"
}
# requests LOG REPO: how many requests of kiln's for REPO a registry log shows.
requests() { grep -c "\"[A-Z]* /v2/$2/.*\"kiln/" "$1" || true; }

# The mirror has it: the original is never asked.
pull hit --registry-map "$orig=$mirror" "$orig/app/busybox:1" ||
	kiln_die "pull through the mirror failed: $(cat "$work/hit.err")"
kiln_assert_eq "$want" "$(cat "$work/hit.out")" "digest served by the mirror"
kiln_assert_eq 0 "$(requests "$orig_log" app/busybox)" "requests to the original"
kiln_assert_eq 3 "$(requests "$mirror_log" app/busybox)" "requests to the mirror (manifest, config, layer)"

# The mirror lacks it: a warning, then the original.
pull miss --registry-map "$orig=$mirror" "$orig/only-orig/busybox:1" ||
	kiln_die "fallback to the original failed: $(cat "$work/miss.err")"
kiln_assert_eq "$want" "$(cat "$work/miss.out")" "digest served by the original"
grep -q "registry '$mirror' answered GET /v2/only-orig/busybox/manifests/1 with HTTP 404.*trying '$orig/only-orig/busybox'" \
	"$work/miss.err" || kiln_die "no warning about the mirror: $(cat "$work/miss.err")"
kiln_assert_eq 1 "$(requests "$mirror_log" only-orig/busybox)" "requests to the mirror that lacks it"
kiln_assert_eq 3 "$(requests "$orig_log" only-orig/busybox)" "requests to the original after the miss"

# No fallback: fails, and says the original was not tried.
if pull nofb --registry-map "$orig=$mirror" --skip-default-registry-fallback "$orig/only-orig/busybox:1"; then
	kiln_die "pull without fallback succeeded"
fi
grep -q "HTTP 404 not found.*the image's own registry '$orig' was not tried (--skip-default-registry-fallback)" \
	"$work/nofb.err" || kiln_die "no-fallback: unexpected error: $(cat "$work/nofb.err")"
kiln_assert_eq 3 "$(requests "$orig_log" only-orig/busybox)" "requests to the original without fallback"
kiln_log "no fallback: $(head -1 "$work/nofb.err")"

# A path prefix, and targets in order: the first has nothing, the second has it.
pull prefix --registry-map "$orig=$mirror/nothing;$orig=$mirror/cache" --skip-default-registry-fallback \
	"$orig/app/busybox:1" || kiln_die "pull with a prefix failed: $(cat "$work/prefix.err")"
kiln_assert_eq "$want" "$(cat "$work/prefix.out")" "digest served under the prefix"
kiln_assert_eq 1 "$(requests "$mirror_log" nothing/app/busybox)" "requests to the first target"
kiln_assert_eq 3 "$(requests "$mirror_log" cache/app/busybox)" "requests to the second target"

# Docker Hub: --registry-mirror, with a path.
pull hub --registry-mirror "$mirror/hub" --skip-default-registry-fallback busybox:1 ||
	kiln_die "pull of busybox:1 through --registry-mirror failed: $(cat "$work/hub.err")"
kiln_assert_eq "$want" "$(cat "$work/hub.out")" "digest of busybox:1 from the Hub mirror"
# And registry-map keys may name the Hub as index.docker.io.
pull hubmap --registry-map "index.docker.io=$mirror/hub" --skip-default-registry-fallback busybox:1 ||
	kiln_die "pull of busybox:1 through --registry-map index.docker.io failed: $(cat "$work/hubmap.err")"

# A malformed map: refused before anything is asked.
if pull bad --registry-map "$orig" "$orig/app/busybox:1"; then
	kiln_die "a malformed --registry-map was accepted"
fi
grep -q -- "--registry-map: '$orig' is not orig=host\[/path\]" "$work/bad.err" ||
	kiln_die "malformed map: unexpected error: $(cat "$work/bad.err")"
kiln_log "PASS"

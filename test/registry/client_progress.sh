#!/bin/bash
# integration.client_progress: per-blob progress lines at a readable pace.
# A 4 MiB layer is pulled through test/tools/fault-proxy.py throttled to
# 1 MiB/s (about 4 s) with --progress-interval 1000: the layer gets a few
# "pull sha256:…: X MiB of Y MiB (N%), R MiB/s" lines, never more than one
# per second, and one "done" line; the small config gets no INFO line at
# all. A push (fast, on loopback) logs only the final line per layer.
set -euo pipefail
# shellcheck source=test/tools/lib.sh
. "${KILN_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/test/tools/lib.sh"
# shellcheck source=test/tools/registry.sh
. "$KILN_SOURCE_DIR/test/tools/registry.sh"
# shellcheck source=test/tools/servers.sh
. "$KILN_SOURCE_DIR/test/tools/servers.sh"

kiln_require_cmd docker-registry curl jq python3
exe=${KILN_EXECUTOR:-$KILN_SOURCE_DIR/build/executor}
[[ -x $exe ]] || kiln_die "no executor at '$exe' (set KILN_EXECUTOR)"
kiln_make_tmpdir
work=$KILN_TMPDIR
kiln_registry_start || kiln_die "could not start the registry fixture"
reg=$KILN_REGISTRY
python3 "$KILN_SOURCE_DIR/test/tools/make-layout.py" "$work/img" 1 4194304 --seed 5 >/dev/null
manifest=$(jq -r '.manifests[0].digest' "$work/img/index.json")
layer=$(jq -r '.layers[0].digest' "$work/img/blobs/sha256/${manifest#sha256:}")
id=${layer:0:19}

"$exe" debug push --progress-interval 1000 "$work/img" "$reg/progress/img:1" >/dev/null 2>"$work/push.err" ||
	kiln_die "push failed: $(cat "$work/push.err")"
kiln_assert_eq 1 "$(grep -c "push $id: done, 4.0 MiB in" "$work/push.err")" "final push lines for the layer"
kiln_assert_eq 1 "$(grep -c 'push sha256:' "$work/push.err")" "push progress lines in all"

kiln_fault_proxy_start "$work/proxy" "$reg" --throttle 1024
start=$SECONDS
"$exe" debug pull --progress-interval 1000 "$KILN_PROXY/progress/img:1" --output "$work/out" \
	>/dev/null 2>"$work/pull.err" || kiln_die "pull failed: $(cat "$work/pull.err")"
secs=$((SECONDS - start))
lines=$(grep -cE "pull $id: [0-9.]+ MiB of 4.0 MiB \([0-9]+%\), [0-9.]+ MiB/s" "$work/pull.err" || true)
kiln_log "pull of 4 MiB at 1 MiB/s: $secs s, $lines progress lines, then: $(grep "pull $id: done" "$work/pull.err")"
((lines >= 2)) || kiln_die "only $lines progress lines for a ${secs}-second download"
((lines <= secs + 1)) || kiln_die "$lines progress lines in $secs s: more than one a second"
kiln_assert_eq 1 "$(grep -c "pull $id: done, 4.0 MiB in" "$work/pull.err")" "final pull lines for the layer"
kiln_assert_eq $((lines + 1)) "$(grep -c 'pull sha256:' "$work/pull.err")" "pull progress lines in all (none for the config)"
kiln_log "PASS"

#!/bin/bash
# integration.build_failures: every failure ends with one clear line and
# the right exit code, and nothing is pushed: a failing RUN (its own code,
# also after a layer was made and uploaded early),
# an unknown instruction, a missing COPY source, a bad --destination, an
# unreachable registry, a missing base image (exit 1), SIGTERM during a RUN
# (143, the step's processes gone), ROOT "/" refused under
# KILN_FORBID_ROOT_SLASH, a RUN killed by a signal (128+N), SIGTERM while a
# layer uploads (143 within seconds), and a base layer the registry serves
# altered (while it is unpacked as it arrives).
set -euo pipefail
# shellcheck source=test/tools/lib.sh
. "${KILN_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/test/tools/lib.sh"
# shellcheck source=test/tools/registry.sh
. "$KILN_SOURCE_DIR/test/tools/registry.sh"
# shellcheck source=test/tools/servers.sh
. "$KILN_SOURCE_DIR/test/tools/servers.sh"

kiln_require_root
kiln_require_cmd docker-registry curl jq
kiln_on_exit kiln_registry_stop
kiln_make_tmpdir
work=$KILN_TMPDIR
kiln_registry_start
reg=$KILN_REGISTRY
kiln_fixture_push busybox "$reg" library/busybox:latest
n=0

# expect CODE PATTERN DOCKERFILE [FLAGS...]: build, check the exit code,
# that stderr's last line is the one "error: ..." line matching PATTERN,
# and that the destination has no manifest.
expect() {
	local want=$1 pattern=$2 dockerfile=$3 dir code=0
	shift 3
	n=$((n + 1))
	dir=$work/case$n
	mkdir -p "$dir/ctx"
	printf '%s\n' "$dockerfile" >"$dir/ctx/Dockerfile"
	echo hello >"$dir/ctx/present.txt"
	"$KILN_EXECUTOR" --context="dir://$dir/ctx" --rootfs="$dir/root" --kiln-dir="$dir/kiln" \
		--push-retry 0 --destination="$reg/fail:$n" "$@" >"$dir/out" 2>"$dir/err" || code=$?
	kiln_assert_eq "$want" "$code" "exit code of case $n ($pattern)"
	[[ $(grep -c '^error: ' "$dir/err") == 1 ]] || kiln_die "case $n: not one error line: $(cat "$dir/err")"
	tail -n 1 "$dir/err" | grep -qE "^error: .*$pattern" ||
		kiln_die "case $n: last line '$(tail -n 1 "$dir/err")' does not match '$pattern'"
	local http
	http=$(curl -s -o /dev/null -w '%{http_code}' "http://$reg/v2/fail/manifests/$n")
	kiln_assert_eq 404 "$http" "manifest of case $n"
}

base="FROM $reg/library/busybox:latest"
expect 3 'Dockerfile:2: RUN exit 3: the command exited with code 3' "$base
RUN exit 3
RUN echo never"
# a layer made (and uploaded while the build goes on) before the failure:
# still no tag
expect 3 'Dockerfile:3: RUN exit 3' "$base
COPY present.txt /present.txt
RUN exit 3"
expect 1 "unknown instruction" "$base
FRUN echo x"
expect 1 "missing.txt" "$base
COPY missing.txt /x"
expect 1 "destination" "$base" --destination='not a valid//ref'
expect 1 "base image.*$reg/library/nosuch" "FROM $reg/library/nosuch:1"
expect 137 "exited with code 137" "$base
RUN kill -9 \$\$"

# An unreachable registry fails before anything is built.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
expect 1 "127.0.0.1:$port" "$base" --destination="127.0.0.1:$port/x:1" --push-retry 0

# ROOT "/" is refused while KILN_FORBID_ROOT_SLASH is set, --force or not.
code=0
KILN_FORBID_ROOT_SLASH=1 "$KILN_EXECUTOR" --force --context="dir://$work/case1/ctx" \
	--destination="$reg/fail:root" 2>"$work/root.err" || code=$?
kiln_assert_eq 1 "$code" "exit code with ROOT / forbidden"
grep -q 'KILN_FORBID_ROOT_SLASH' "$work/root.err" || kiln_die "no clear line: $(cat "$work/root.err")"

# SIGTERM during a RUN: exit 143, no tag, the step's processes gone.
mkdir -p "$work/term/ctx"
# durations no other process on the machine is likely to sleep for, so
# the check below finds only the RUN's own
nap=$((300000 + RANDOM))
printf '%s\n' "$base" "RUN echo started; sleep $nap & sleep $((nap + 1))" >"$work/term/ctx/Dockerfile"
"$KILN_EXECUTOR" --context="dir://$work/term/ctx" --rootfs="$work/term/root" \
	--kiln-dir="$work/term/kiln" --destination="$reg/fail:term" >"$work/term/out" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q started "$work/term/out" && break; sleep 0.1; done
sleep 0.3
kill -TERM "$pid"
code=0
wait "$pid" || code=$?
kiln_assert_eq 143 "$code" "exit code after SIGTERM"
pgrep -f "sleep ($nap|$((nap + 1)))\$" >/dev/null && kiln_die "the RUN's processes survived SIGTERM"
kiln_assert_eq 404 "$(curl -s -o /dev/null -w '%{http_code}' "http://$reg/v2/fail/manifests/term")" \
	"manifest after SIGTERM"

# SIGTERM while a layer is still uploading (a proxy reading uploads at
# 256 KiB/s: 20 MB would take over a minute): the upload stops, exit 143
# within seconds, no tag.
kiln_fault_proxy_start "$work/slow" "$reg" --throttle-up 256
mkdir -p "$work/slowup/ctx"
head -c 20000000 /dev/urandom >"$work/slowup/ctx/blob"
printf 'FROM %s/library/busybox:latest\nCOPY blob /blob\n' "$KILN_PROXY" >"$work/slowup/ctx/Dockerfile"
"$KILN_EXECUTOR" --context="dir://$work/slowup/ctx" --rootfs="$work/slowup/root" \
	--kiln-dir="$work/slowup/kiln" --destination="$KILN_PROXY/fail:slow" >"$work/slowup/out" 2>&1 &
pid=$!
for _ in $(seq 300); do grep -q 'COPY took' "$work/slowup/out" && break; sleep 0.1; done
grep -q 'COPY took' "$work/slowup/out" || kiln_die "the slow-upload build made no layer: $(tail -3 "$work/slowup/out")"
sleep 0.5
t0=$(date +%s.%N)
kill -TERM "$pid"
code=0
wait "$pid" || code=$?
secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
kiln_assert_eq 143 "$code" "exit code after SIGTERM during a layer upload"
awk -v s="$secs" 'BEGIN { exit !(s < 10) }' || kiln_die "SIGTERM during an upload took ${secs}s to end the build"
kiln_assert_eq 404 "$(curl -s -o /dev/null -w '%{http_code}' "http://$reg/v2/fail/manifests/slow")" \
	"manifest after SIGTERM during an upload"
# A base layer the registry serves with altered bytes (changed in its
# storage, last: every image here shares the blob): the layer is unpacked
# while it downloads, yet the build fails on it with one line and pushes
# nothing.
layer=$(curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
	-H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
	"http://$reg/v2/library/busybox/manifests/latest" | jq -r '.layers[0].digest')
hex=${layer#sha256:}
data=$KILN_REGISTRY_DIR/storage/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data
[[ -f $data ]] || kiln_die "no blob data at '$data'"
size=$(stat -c %s "$data")
printf '\x55\xaa' | dd of="$data" bs=1 seek=$((size / 2)) conv=notrunc status=none
expect 1 "layer $layer" "$base
RUN echo never"
kiln_log "ok: $n failure cases"

#!/bin/bash
# integration.build_root_slash: the product's mode, ROOT "/", in a
# throw-away root. A directory plays the executor's container (only
# /kiln/executor, the static binary, and empty mount points); the context
# is bind-mounted at /workspace, /proc and /dev are mounted, then
# `unshare --mount --pid --fork` + chroot runs the executor with no
# --rootfs, as a pod would: the busybox base is unpacked over that "/",
# RUN executes in it, and the image is pushed. Checked with skopeo and
# umoci: the RUN's and COPY's files are in, nothing of /kiln, /workspace,
# /proc or the executor's own files is. Never run on the machine's "/".
set -euo pipefail
# shellcheck source=test/tools/lib.sh
. "${KILN_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/test/tools/lib.sh"
# shellcheck source=test/tools/registry.sh
. "$KILN_SOURCE_DIR/test/tools/registry.sh"

exe=${KILN_STATIC_EXECUTOR:-}
[[ -n $exe ]] || kiln_skip "KILN_STATIC_EXECUTOR is not set (test/run.sh builds it in build-static/)"
kiln_require_root
kiln_require_cmd docker-registry skopeo umoci unshare chroot jq
kiln_on_exit kiln_registry_stop
kiln_make_tmpdir
work=$KILN_TMPDIR
kiln_registry_start
reg=$KILN_REGISTRY
kiln_fixture_push busybox "$reg" library/busybox:latest

pod=$work/pod
mkdir -p "$pod"/{kiln,proc,dev,workspace} "$work/ctx"
install -m 0755 "$exe" "$pod/kiln/executor"
# as the kiln image ships them (SSL_CERT_FILE below)
install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$pod/kiln/ssl/certs/ca-certificates.crt"
printf '%s\n' "FROM $reg/library/busybox:latest" \
	'RUN echo built-in-pod > /built && ls / > /root-listing' \
	'COPY hello.txt /hello.txt' >"$work/ctx/Dockerfile"
echo hello >"$work/ctx/hello.txt"

# The mounts live in the new mount namespace only; the chroot is the pod.
code=0
env -u KILN_FORBID_ROOT_SLASH unshare --mount --pid --fork /bin/sh -ec '
	pod=$1 ctx=$2 reg=$3
	mount --make-rprivate /
	mount --bind "$ctx" "$pod/workspace"
	mount -t proc proc "$pod/proc"
	mount --rbind /dev "$pod/dev"
	SSL_CERT_FILE=/kiln/ssl/certs/ca-certificates.crt exec chroot "$pod" /kiln/executor --force --context=dir:///workspace \
		--dockerfile=Dockerfile --destination="$reg/pod/app:1" \
		--digest-file=/kiln/digest
' sh "$pod" "$work/ctx" "$reg" >"$work/out" 2>&1 || code=$?
[[ $code == 0 ]] || kiln_die "the build in the pod failed ($code): $(tail -n 5 "$work/out")"
digest=$(cat "$pod/kiln/digest")

kiln_skopeo copy --quiet --src-tls-verify=false "docker://$reg/pod/app:1" "oci:$work/layout:app" >&2
kiln_assert_eq "$digest" "$(kiln_skopeo inspect "oci:$work/layout:app" | jq -r .Digest)" "pushed digest"
umoci unpack --image "$work/layout:app" "$work/bundle" >&2
rootfs=$work/bundle/rootfs
kiln_assert_eq built-in-pod "$(cat "$rootfs/built")" "the RUN's file"
kiln_assert_eq hello "$(cat "$rootfs/hello.txt")" "the COPY's file"
grep -qx kiln "$rootfs/root-listing" || kiln_die "RUN did not see /kiln (not in the pod's root?)"
for p in kiln/executor kiln/ssl workspace/Dockerfile proc/self; do
	[[ ! -e $rootfs/$p ]] || kiln_die "the image holds /$p"
done
# The pod's own root got the base image (ROOT was "/").
[[ -x $pod/bin/busybox ]] || kiln_die "the base was not unpacked over the pod's /"
kiln_log "ok: built in a simulated pod, $digest"

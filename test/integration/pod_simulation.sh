#!/bin/bash
# integration.pod_simulation: the kiln image started the way a container
# runtime (a Kubernetes pod) starts it, without a runtime. A fresh directory
# holds the image (/kiln/executor from $KILN_STATIC_EXECUTOR, the CA bundle,
# an empty /kiln/.docker, /workspace); in a new mount and PID namespace
# /proc, /sys and /dev are mounted, /etc/hosts and /etc/resolv.conf are bound
# as files, the context is bound at /workspace and a fake service-account
# secret at /var/run/secrets/kubernetes.io/serviceaccount; then chroot runs
# /kiln/executor with no --rootfs (ROOT is "/"), with the image's Env and
# KUBERNETES_SERVICE_HOST as the kubelet sets it.
#
# The base image is made first (by kiln, from busybox) to hold what broke
# kaniko (#2214, #946): its own /etc/hosts, a /var/mail directory with
# /var/spool/mail -> ../mail, and /var/run -> /run. The pushed image must
# hold the build's files and none of /kiln, /workspace, the secret, /proc
# or /sys contents, or the bound host files. Both builds use --cache: a
# second, fresh pod then gets every step from the registry and unpacks
# nothing over its "/". The same build with --rootfs is timed next to the
# pod build.
set -euo pipefail
# shellcheck source=test/tools/lib.sh
. "${KILN_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/test/tools/lib.sh"
# shellcheck source=test/tools/registry.sh
. "$KILN_SOURCE_DIR/test/tools/registry.sh"

exe=${KILN_STATIC_EXECUTOR:-}
[[ -n $exe ]] || kiln_skip "KILN_STATIC_EXECUTOR is not set (test/run.sh builds it in build-static/)"
kiln_require_root
kiln_require_cmd docker-registry skopeo umoci unshare chroot jq tar
kiln_on_exit kiln_registry_stop
kiln_make_tmpdir
work=$KILN_TMPDIR
kiln_registry_start
reg=$KILN_REGISTRY
kiln_fixture_push busybox "$reg" library/busybox:latest
chroot_cmd=$(command -v chroot)

# --- the tricky base, built by kiln (--rootfs) --------------------------------
mkdir -p "$work/base-ctx"
cat >"$work/base-ctx/Dockerfile" <<DOCKERFILE
FROM $reg/library/busybox:latest
RUN mkdir -p /var/mail /var/spool /run && echo mailbox >/var/mail/root && \\
	ln -s ../mail /var/spool/mail && rm -rf /var/run && ln -s /run /var/run && \\
	echo run-of-base >/run/base-marker
# (COPY: as in Docker, RUN writes to a per-step /etc/hosts that is not kept)
COPY hosts /etc/hosts
DOCKERFILE
printf '127.0.0.1 localhost\n10.20.30.40 base-hosts-entry\n' >"$work/base-ctx/hosts"
"$KILN_EXECUTOR" -v warn --context="dir://$work/base-ctx" --destination="$reg/pod/base:1" \
	--rootfs="$work/base-root" --kiln-dir="$work/base-kiln" ||
	kiln_die "building the base image failed"
base_layers=$(kiln_skopeo inspect --tls-verify=false "docker://$reg/pod/base:1" | jq '.Layers | length')

# --- the build context ----------------------------------------------------------
ctx=$work/ctx
mkdir -p "$ctx"
cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM $reg/pod/base:1
# RUN sees the pod's own /etc/hosts (bound), the base's symlinks and files.
ARG HOSTS_WANT=pod-hosts-marker
RUN grep -q "\$HOSTS_WANT" /etc/hosts && cat /var/spool/mail/root >/mail-seen && \\
	echo delivered >/var/spool/mail/build && ls / >/root-listing && echo built-in-pod >/built
COPY app.txt /app/app.txt
RUN [ "\$(cat /app/app.txt)" = app ] && mkdir -p /run/app && echo ok >/run/app/state
DOCKERFILE
echo app >"$ctx/app.txt"

# --- the pod: the kiln image, assembled ------------------------------------------
# make_pod DIR: a fresh copy of the kiln image's filesystem.
make_pod() {
	mkdir -p "$1"/{kiln/.docker,kiln/ssl/certs,workspace,proc,sys,dev,etc} \
		"$1/var/run/secrets/kubernetes.io/serviceaccount"
	install -m 0755 "$exe" "$1/kiln/executor"
	install -m 0644 /etc/ssl/certs/ca-certificates.crt "$1/kiln/ssl/certs/ca-certificates.crt"
	: >"$1/etc/hosts"
	: >"$1/etc/resolv.conf"
}
pod=$work/pod
make_pod "$pod"
# What the kubelet binds: files with markers no image may contain.
mkdir -p "$work/host/secret"
printf '127.0.0.1\tlocalhost\n10.9.9.9\tpod-hosts-marker\n' >"$work/host/hosts"
printf '# pod-resolv-marker\nnameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$work/host/resolv.conf"
secret=token-$RANDOM$RANDOM-not-for-images
printf '%s' "$secret" >"$work/host/secret/token"
printf 'default' >"$work/host/secret/namespace"

# pod_run POD TAG: run the pod (its layer cache in $reg/pod/app/cache) to push
# $reg/pod/app:TAG.
pod_run() {
	env -u KILN_FORBID_ROOT_SLASH unshare --mount --pid --fork /bin/sh -ec '
		pod=$1 ctx=$2 host=$3 reg=$4 chroot_cmd=$5 tag=$6
		mount --make-rprivate /
		mount -t proc proc "$pod/proc"
		mount -t sysfs -o ro sysfs "$pod/sys"
		mount --rbind /dev "$pod/dev"
		mount --bind "$host/hosts" "$pod/etc/hosts"
		mount --bind "$host/resolv.conf" "$pod/etc/resolv.conf"
		mount --bind "$ctx" "$pod/workspace"
		mount --bind -o ro "$host/secret" "$pod/var/run/secrets/kubernetes.io/serviceaccount"
		exec env -i HOME=/root USER=root PATH=/usr/local/bin:/kiln \
			DOCKER_CONFIG=/kiln/.docker/ SSL_CERT_FILE=/kiln/ssl/certs/ca-certificates.crt \
			KUBERNETES_SERVICE_HOST=10.96.0.1 KUBERNETES_SERVICE_PORT=443 \
			"$chroot_cmd" "$pod" /kiln/executor --context=dir:///workspace \
			--dockerfile=Dockerfile --destination="$reg/pod/app:$tag" \
			--digest-file=/kiln/digest --cache --cache-copy-layers
	' sh "$1" "$ctx" "$work/host" "$reg" "$chroot_cmd" "$2"
}

t0=$(date +%s.%N)
code=0
pod_run "$pod" 1 >"$work/pod.log" 2>&1 || code=$?
t1=$(date +%s.%N)
[[ $code == 0 ]] || kiln_die "the build in the pod failed ($code):"$'\n'"$(tail -n 20 "$work/pod.log")"
pod_time=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
digest=$(cat "$pod/kiln/digest")
! grep -q "$secret" "$work/pod.log" || kiln_die "the secret appears in the build log"

# --- the pushed image ---------------------------------------------------------
kiln_skopeo copy --quiet --src-tls-verify=false "docker://$reg/pod/app:1" "oci:$work/layout:app" >&2
kiln_assert_eq "$digest" "$(kiln_skopeo inspect "oci:$work/layout:app" | jq -r .Digest)" "pushed digest"
umoci unpack --image "$work/layout:app" "$work/bundle" >&2
rootfs=$work/bundle/rootfs
kiln_assert_eq built-in-pod "$(cat "$rootfs/built")" "the RUN's file"
kiln_assert_eq app "$(cat "$rootfs/app/app.txt")" "the COPY's file"
kiln_assert_eq mailbox "$(cat "$rootfs/mail-seen")" "the base's mail read through /var/spool/mail"
kiln_assert_eq delivered "$(cat "$rootfs/var/mail/build")" "a file written through /var/spool/mail"
kiln_assert_eq ../mail "$(readlink "$rootfs/var/spool/mail")" "/var/spool/mail"
[[ -d $rootfs/var/mail && ! -L $rootfs/var/mail ]] || kiln_die "/var/mail is no longer a directory"
kiln_assert_eq /run "$(readlink "$rootfs/var/run")" "/var/run (the base's symlink)"
kiln_assert_eq run-of-base "$(cat "$rootfs/run/base-marker")" "the base's /run"
kiln_assert_eq ok "$(cat "$rootfs/run/app/state")" "a file the build wrote under /run"
grep -q base-hosts-entry "$rootfs/etc/hosts" || kiln_die "the image lost the base's /etc/hosts"
grep -qx kiln "$rootfs/root-listing" || kiln_die "RUN did not see /kiln (not in the pod's root?)"
for p in kiln workspace var/run/secrets run/secrets proc/self proc/1 sys/kernel; do
	[[ ! -e $rootfs/$p && ! -L $rootfs/$p ]] || kiln_die "the image holds /$p"
done
if grep -rlF -e "$secret" -e pod-hosts-marker -e pod-resolv-marker "$rootfs" >"$work/leaks"; then
	kiln_die "host files or the secret leaked into the image: $(cat "$work/leaks")"
fi
# The layers the build added (after the base's) name none of those paths.
mapfile -t layers < <(jq -r '.layers[].digest' "$work/layout/blobs/sha256/$(jq -r \
	'.manifests[0].digest | sub("sha256:"; "")' "$work/layout/index.json")")
((${#layers[@]} > base_layers)) || kiln_die "the build added no layer"
for l in "${layers[@]:base_layers}"; do
	tar -tzf "$work/layout/blobs/sha256/${l#sha256:}" >"$work/entries"
	if grep -E '^(\./)?(kiln|workspace|proc|sys|dev|var/run|etc/hosts|etc/resolv\.conf|\.wh\.kiln)(/|$)' \
		"$work/entries" >"$work/bad"; then
		kiln_die "layer $l holds: $(head -n 5 "$work/bad")"
	fi
done
# The pod's root got the base image (ROOT was "/"); the bound files kept theirs.
[[ -x $pod/bin/busybox ]] || kiln_die "the base was not unpacked over the pod's /"
kiln_assert_eq "" "$(cat "$pod/etc/hosts")" "the pod's own /etc/hosts under the bind mount"
grep -q pod-hosts-marker "$work/host/hosts" || kiln_die "the build changed the bound /etc/hosts"
[[ -x $pod/kiln/executor ]] || kiln_die "the build removed /kiln/executor from the pod"

# --- a second pod: the same build, every step from the cache ---------------------
make_pod "$work/pod2"
pod_run "$work/pod2" 2 >"$work/pod2.log" 2>&1 ||
	kiln_die "the cached build in the second pod failed:"$'\n'"$(tail -n 20 "$work/pod2.log")"
grep -q 'Cache: 3 hits, 0 misses, 0 entries pushed' "$work/pod2.log" ||
	kiln_die "the second pod missed the cache: $(grep -E 'cach|Cache' "$work/pod2.log")"
grep -q 'Stage 0 is fully cached: nothing unpacked' "$work/pod2.log" ||
	kiln_die "the second pod unpacked its base"
[[ ! -e $work/pod2/bin/busybox ]] || kiln_die "the fully cached build unpacked the base over /"
kiln_assert_eq "$(kiln_skopeo inspect --tls-verify=false "docker://$reg/pod/app:1" | jq -c .Layers)" \
	"$(kiln_skopeo inspect --tls-verify=false "docker://$reg/pod/app:2" | jq -c .Layers)" \
	"the cached build's layers"

# --- the same build with --rootfs, timed ----------------------------------------
t0=$(date +%s.%N)
# (RUN sees a copy of this machine's /etc/hosts there)
"$exe" -v warn --context="dir://$ctx" --destination="$reg/pod/app:rootfs" --build-arg HOSTS_WANT=localhost \
	--rootfs="$work/rootfs-root" --kiln-dir="$work/rootfs-kiln" >"$work/rootfs.log" 2>&1 ||
	kiln_die "the --rootfs build failed: $(tail -n 20 "$work/rootfs.log")"
t1=$(date +%s.%N)
rootfs_time=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
kiln_log "ok: built in a simulated pod, $digest"
kiln_log "time: pod (ROOT /) ${pod_time}s, --rootfs ${rootfs_time}s (static executor)"

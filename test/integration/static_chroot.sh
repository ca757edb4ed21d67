#!/usr/bin/env bash
# test/integration/static_chroot.sh: the static executor works with nothing
# around it.
#
# kiln unpacks a base image over / and then cannot rely on anything in /:
# no shared libraries, no dynamic loader, no nsswitch.conf. This test puts the
# static executor ($KILN_STATIC_EXECUTOR, built with -DKILN_STATIC=ON) alone
# in an empty chroot with only /etc/hosts and /etc/resolv.conf and checks:
#   1. the file is statically linked (no dynamic section, no PT_INTERP);
#   2. `executor version` runs there;
#   3. `executor debug probe` reaches the registry fixture through a name
#      found in /etc/hosts (c-ares reads it itself; glibc's NSS is not used);
#   4. without /etc/hosts, `localhost` still resolves (curl >= 7.78 maps it
#      to the loopback addresses without asking any resolver);
#   5. a name that nothing can resolve fails quickly with an error;
#   6. with only /kiln/executor and the CA bundle (/kiln/ssl/certs), a build
#      from a tar:// context (COPY and ENV on the busybox fixture; RUN with
#      --rootfs would need /sys and a mount-point "/", as any container has)
#      pulls from and pushes to the registry fixture by the name localhost
#      (with /proc mounted, as in any container).
#
# Needs root (chroot). Exit 0 pass, 1 fail, 77 skip (a failure when CI=true).
set -euo pipefail
. "${KILN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/test/tools/lib.sh"
. "$KILN_SOURCE_DIR/test/tools/registry.sh"

exe=${KILN_STATIC_EXECUTOR:-}
if [[ -z $exe ]]; then
	kiln_skip "KILN_STATIC_EXECUTOR is not set: build the static executor" \
		"(cmake -S . -B build-static -DKILN_STATIC=ON -DKILN_TESTS=OFF &&" \
		"cmake --build build-static) and set KILN_STATIC_EXECUTOR=build-static/executor"
fi
[[ -f $exe && -x $exe ]] || kiln_die "KILN_STATIC_EXECUTOR='$exe' is not an executable file"
kiln_require_root
kiln_require_cmd readelf file chroot timeout unshare skopeo umoci jq tar

# --- 1. statically linked --------------------------------------------------
dyn=$(LC_ALL=C readelf -d -- "$exe" 2>&1) || kiln_die "readelf -d '$exe' failed: $dyn"
[[ $dyn == *"There is no dynamic section in this file."* ]] ||
	kiln_die "'$exe' has a dynamic section (readelf -d):"$'\n'"$dyn"
what=$(LC_ALL=C file -b -- "$exe")
[[ $what == *"statically linked"* ]] || kiln_die "file(1) says '$exe' is not statically linked: $what"
kiln_elf_is_static "$exe" || kiln_die "'$exe' has a PT_INTERP program header"
kiln_log "statically linked: $what"

# --- the chroot: the executor, /etc/hosts, /etc/resolv.conf, nothing else --
kiln_make_tmpdir
root=$KILN_TMPDIR/root
mkdir -p "$root/kiln" "$root/etc"
cp -- "$exe" "$root/kiln/executor"
chmod 0755 "$root/kiln/executor"
# The made-up name exists only here: a probe that reaches the registry
# through it can only have read this file.
printf '127.0.0.1\tkiln-registry.test\n' >"$root/etc/hosts"
# No DNS server is needed or wanted: a lookup that gets past /etc/hosts
# goes to 127.0.0.1:53 (normally refused at once) and gives up after one
# short try.
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$root/etc/resolv.conf"

# in_root CMD...: run CMD (a path inside the chroot) with a time limit, in a
# clean environment; its stdout+stderr go to $out, its status to $rc.
out='' rc=0
in_root() {
	rc=0
	out=$(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/ KILN_FORBID_ROOT_SLASH=1 \
		timeout --kill-after=5 60 chroot "$root" "$@" 2>&1) || rc=$?
}

# --- 2. version --------------------------------------------------------------
in_root /kiln/executor version
((rc == 0)) || kiln_die "chroot: executor version exited $rc:"$'\n'"$out"
[[ $out == *libcurl* ]] || kiln_die "executor version names no libcurl:"$'\n'"$out"
# Names must go through c-ares, never glibc's getaddrinfo (NSS, which a
# static binary cannot load safely).
[[ $out == *c-ares* ]] || kiln_die "the static libcurl does not resolve with c-ares:"$'\n'"$out"
kiln_log "executor version in the chroot:"$'\n'"$out"

# --- 3. probe the registry through /etc/hosts --------------------------------
kiln_on_exit kiln_registry_stop
kiln_registry_start
port=${KILN_REGISTRY##*:}

url=http://kiln-registry.test:$port/v2/
in_root /kiln/executor debug probe "$url"
((rc == 0)) || kiln_die "chroot: executor debug probe $url exited $rc:"$'\n'"$out"
[[ $out == *"HTTP 200"* ]] || kiln_die "executor debug probe $url: no HTTP 200 in:"$'\n'"$out"
kiln_log "probe through /etc/hosts: $out"

# --- 4. localhost with no /etc/hosts at all ----------------------------------
rm -f -- "$root/etc/hosts"
url=http://localhost:$port/v2/
in_root /kiln/executor debug probe "$url"
((rc == 0)) || kiln_die "chroot without /etc/hosts: executor debug probe $url exited $rc:"$'\n'"$out"
[[ $out == *"HTTP 200"* ]] || kiln_die "executor debug probe $url: no HTTP 200 in:"$'\n'"$out"
kiln_log "probe of localhost without /etc/hosts: $out"

# --- 5. an unresolvable name fails, and fails fast ---------------------------
# (.test is reserved: no DNS server anywhere resolves it.)
url=http://kiln-registry.test:$port/v2/
start=$SECONDS
in_root /kiln/executor debug probe "$url"
((rc != 0 && rc != 124 && rc != 137)) ||
	kiln_die "probe of an unresolvable name: expected a failure, got exit $rc:"$'\n'"$out"
((SECONDS - start < 30)) || kiln_die "probe of an unresolvable name took $((SECONDS - start)) s"
kiln_log "unresolvable name fails (exit $rc): $out"

# --- 6. a build from a tar:// context, by the name localhost -----------------
# The chroot now holds what the kiln image holds: the executor and the CA
# bundle (plus the resolv.conf above); no /etc/hosts, no /tmp.
kiln_fixture_push busybox "$KILN_REGISTRY" library/busybox:latest
install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$root/kiln/ssl/certs/ca-certificates.crt"
mkdir -p "$KILN_TMPDIR/ctx"
printf '%s\n' "FROM localhost:$port/library/busybox:latest" \
	'COPY msg.txt /built' 'ENV FROM_TAR=1' \
	>"$KILN_TMPDIR/ctx/Dockerfile"
echo "static from a tar context" >"$KILN_TMPDIR/ctx/msg.txt"
tar -C "$KILN_TMPDIR/ctx" -czf "$root/kiln/context.tar.gz" .
# A build reads /proc (capabilities, mount points, /proc/self/fd), which
# every container runtime mounts: mounted here in a private mount namespace.
mkdir -p "$root/proc"
rc=0
# (the image's PATH: chroot is named by its host path)
out=$(timeout --kill-after=5 120 unshare --mount --pid --fork /bin/sh -ec '
	root=$1 chroot_cmd=$2 port=$3
	mount --make-rprivate /
	mount -t proc proc "$root/proc"
	exec env -i PATH=/usr/local/bin:/kiln HOME=/root KILN_FORBID_ROOT_SLASH=1 \
		SSL_CERT_FILE=/kiln/ssl/certs/ca-certificates.crt \
		"$chroot_cmd" "$root" /kiln/executor \
		--context=tar:///kiln/context.tar.gz --destination="localhost:$port/static/app:1" \
		--digest-file=/kiln/digest --rootfs=/kiln/root --kiln-dir=/kiln/work
' sh "$root" "$(command -v chroot)" "$port" 2>&1) || rc=$?
((rc == 0)) || kiln_die "chroot: the tar:// build exited $rc:"$'\n'"$out"
kiln_skopeo copy --quiet --src-tls-verify=false "docker://$KILN_REGISTRY/static/app:1" \
	"oci:$KILN_TMPDIR/layout:app" >&2
kiln_assert_eq "$(cat "$root/kiln/digest")" "$(kiln_skopeo inspect "oci:$KILN_TMPDIR/layout:app" | jq -r .Digest)" \
	"digest of the image pushed to localhost:$port"
umoci unpack --image "$KILN_TMPDIR/layout:app" "$KILN_TMPDIR/bundle" >&2
kiln_assert_eq "static from a tar context" "$(cat "$KILN_TMPDIR/bundle/rootfs/built")" "the COPY's file"
kiln_assert_eq FROM_TAR=1 "$(kiln_skopeo inspect --config "oci:$KILN_TMPDIR/layout:app" | jq -r '.config.Env[] | select(startswith("FROM_TAR="))')" "ENV"
kiln_log "tar:// build in the chroot pushed to localhost:$port: $(cat "$root/kiln/digest")"

kiln_registry_stop
kiln_log "PASS"

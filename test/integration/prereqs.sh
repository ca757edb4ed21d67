#!/bin/bash
# integration.prereqs: checks every prerequisite the integration suite needs
# and names each one that is missing. Skips (exit 77) when any is missing;
# with CI=true that is a failure, since CI must run every test.
set -euo pipefail
# shellcheck source=test/tools/lib.sh
. "${KILN_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/test/tools/lib.sh"

missing=()
miss() {
	missing+=("$1")
	kiln_log "missing: $1"
}
ok() {
	kiln_log "ok: $1"
}

# Commands, with the Debian package that provides each.
declare -A pkg=(
	[docker-registry]=docker-registry [skopeo]=skopeo [umoci]=umoci
	[openssl]=openssl [htpasswd]=apache2-utils [debootstrap]=debootstrap
	[curl]=curl [jq]=jq [unshare]=util-linux [setpriv]=util-linux
	[flock]=util-linux [ss]=iproute2 [pgrep]=procps [setfattr]=attr
	[getfattr]=attr [chroot]=coreutils [mknod]=coreutils [perl]=perl-base
	[wget]=wget [gpgv]=gpgv
)
for c in $(printf '%s\n' "${!pkg[@]}" | sort); do
	if command -v "$c" >/dev/null 2>&1; then
		ok "command $c"
	else
		miss "command '$c' (Debian package ${pkg[$c]})"
	fi
done
if [[ -f /usr/share/keyrings/debian-archive-keyring.gpg ]]; then
	ok "Debian archive keyring"
else
	miss "/usr/share/keyrings/debian-archive-keyring.gpg (package debian-archive-keyring, for debootstrap)"
fi

# The static busybox the fixtures and chroot tests copy into images.
if kiln_elf_is_static /bin/busybox; then
	ok "/bin/busybox is a static binary"
else
	miss "static /bin/busybox (package busybox-static; plain 'busybox' is dynamic)"
fi

if [[ $(id -u) == 0 ]]; then
	ok "running as root"
else
	miss "root (the suite's needs-root tests; run as uid 0)"
fi

# Kernel: openat2(2) (RESOLVE_IN_ROOT) arrived in Linux 5.6.
if kiln_kernel_at_least 5 6; then
	ok "kernel $(uname -r) >= 5.6 (openat2)"
else
	miss "kernel >= 5.6 for openat2 (running $(uname -r))"
fi

kiln_make_tmpdir
tmp=$KILN_TMPDIR
# A seccomp filter (e.g. an old container runtime's) can still refuse
# openat2 on a new kernel: probe the syscall itself when a compiler exists.
if command -v cc >/dev/null 2>&1; then
	cat >"$tmp/openat2.c" <<'EOF'
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
struct how { uint64_t flags, mode, resolve; };
int main(void)
{
	struct how h = { O_RDONLY | O_DIRECTORY, 0, 0x10 /* RESOLVE_IN_ROOT */ };
	long fd = syscall(SYS_openat2, AT_FDCWD, "/", &h, sizeof h);
	if (fd < 0) {
		perror("openat2");
		return 1;
	}
	return 0;
}
EOF
	if ! cc -o "$tmp/openat2" "$tmp/openat2.c" 2>"$tmp/cc.log"; then
		kiln_log "note: could not compile the openat2 probe; relying on uname -r"
	elif "$tmp/openat2" 2>"$tmp/openat2.log"; then
		ok "openat2(RESOLVE_IN_ROOT) syscall"
	else
		miss "openat2 syscall refused: $(cat "$tmp/openat2.log") (seccomp?)"
	fi
fi

# New mount and PID namespaces (RUN under --rootfs).
if command -v unshare >/dev/null 2>&1 &&
	unshare --mount --pid --fork true 2>"$tmp/unshare.log"; then
	ok "unshare --mount --pid --fork"
else
	miss "new mount+PID namespaces: unshare --mount --pid --fork true failed: $(cat "$tmp/unshare.log" 2>/dev/null)"
fi

# Device nodes (layers may carry them).
if mknod "$tmp/null" c 1 3 2>"$tmp/mknod.log" && [[ -c $tmp/null ]]; then
	ok "mknod of a character device in ${KILN_TEST_TMP:-/tmp}"
else
	miss "mknod c 1 3 in ${KILN_TEST_TMP:-/tmp}: $(cat "$tmp/mknod.log")"
fi

# user.* extended attributes on the temp filesystem (layers carry xattrs).
touch "$tmp/xattr"
if command -v setfattr >/dev/null 2>&1 &&
	setfattr -n user.kiln -v probe "$tmp/xattr" 2>"$tmp/xattr.log" &&
	[[ $(getfattr --only-values -n user.kiln "$tmp/xattr" 2>>"$tmp/xattr.log") == probe ]]; then
	ok "user xattrs on ${KILN_TEST_TMP:-/tmp}"
else
	miss "user xattrs on ${KILN_TEST_TMP:-/tmp} (setfattr/getfattr from package attr): $(cat "$tmp/xattr.log")"
fi

# chroot into a directory holding only the static busybox.
mkdir -p "$tmp/root/bin"
if [[ -x /bin/busybox ]] && cp /bin/busybox "$tmp/root/bin/busybox" &&
	[[ $(chroot "$tmp/root" /bin/busybox echo chrooted 2>"$tmp/chroot.log") == chrooted ]]; then
	ok "chroot"
else
	miss "chroot into a temp dir running a static busybox: $(cat "$tmp/chroot.log" 2>/dev/null)"
fi

if ((${#missing[@]})); then
	list=$(printf '%s; ' "${missing[@]}")
	kiln_skip "${#missing[@]} prerequisite(s) missing: ${list%; }"
fi
kiln_log "all prerequisites present"

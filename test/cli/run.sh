#!/bin/bash
# RUN steps through `executor debug run --rootfs`, in a ROOT unpacked from
# the busybox fixture: exit codes, PATH lookup, users and groups, working
# directory, environment, the PID namespace and the cleanup of leftover
# processes, /etc/hosts copies, read-only binds, hostname, and no trace of
# the mount points in ROOT afterwards.
set -euo pipefail
. "${KILN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/test/tools/lib.sh"
exe=${KILN_EXECUTOR:?KILN_EXECUTOR must point at build/executor}
kiln_require_root
kiln_require_cmd umoci sha256sum
kiln_make_tmpdir
work=$KILN_TMPDIR
fails=0 passes=0

ok() {
	echo "ok   $1"
	passes=$((passes + 1))
}
fail() {
	echo "FAIL $1: $2"
	fails=$((fails + 1))
}

kiln_fixture busybox
umoci unpack --image "$KILN_FIXTURE_DIR:busybox" "$work/bundle" >/dev/null || kiln_die "umoci unpack failed"
root=$work/bundle/rootfs
# a user with supplementary groups, a group of its own, a home
echo 'app:x:1000:1001:app:/home/app:/bin/sh' >>"$root/etc/passwd"
printf '%s\n' 'appgrp:x:1001:' 'staff:x:50:app' 'audio:x:29:other,app' >>"$root/etc/group"
mkdir -p "$root/work/dir"

# brun ARGS... -- CMD: run in ROOT, output in $out, status in $rc
brun() {
	rc=0
	out=$("$exe" debug run --rootfs "$root" --env PATH=/usr/bin:/bin "$@" 2>&1) || rc=$?
}

# expect NAME WANT-RC WANT-OUT
expect() {
	if [[ $rc != "$2" || $out != "$3" ]]; then
		fail "$1" "got rc=$rc out='$out', want rc=$2 out='$3'"
	else
		ok "$1"
	fi
}

brun -- sh -c 'exit 3'
expect "exit code" 3 ""
brun -- sh -c 'kill -9 $$'
expect "killed by a signal" 137 ""
brun -- echo found
expect "PATH lookup" 0 "found"
brun -- nosuch-cmd
expect "not found in PATH" 1 "error: exec: 'nosuch-cmd': executable file not found in \$PATH"
brun --user app -- sh -c 'id -u; id -g; id -G'
expect "USER by name" 0 $'1000\n1001\n1001 29 50'
brun --user 1000 -- sh -c 'id -u; id -g'
expect "USER by uid" 0 $'1000\n1001'
brun --user 4242:29 -- sh -c 'id -u; id -g; id -G'
expect "USER uid:gid" 0 $'4242\n29\n29'
brun --user app:staff -- id -G
expect "explicit group drops supplementary" 0 "50"
brun --user bob -- true
expect "unknown user" 1 "error: user 'bob' not found in /etc/passwd of the image"
brun --cwd /work/dir -- pwd
expect "working directory" 0 "/work/dir"
out=$(FOO=leak "$exe" debug run --rootfs "$root" --env A=1 --env B='two words' -- /usr/bin/env 2>&1 | grep -v '^PWD=\|^SHLVL=' || true)
rc=0
expect "environment is only what was passed" 0 $'A=1\nB=two words'
# pid 1 is kiln's init, 2 the step; the host's processes are not listed
brun -- sh -c 'echo $$; [ $(ps -o pid | wc -l) -le 6 ] && echo few'
expect "new PID namespace" 0 $'2\nfew'
brun --hostname kiln-step -- hostname
expect "hostname" 0 "kiln-step"

# a background process must not survive the step
brun -- sh -c 'sleep 100 & echo $!'
if pgrep -f '^sleep 100$' >/dev/null; then
	fail "leftover process killed" "sleep 100 still runs"
	pkill -f '^sleep 100$' || true
else
	ok "leftover process killed"
fi

# /etc/hosts: readable, and writing it does not reach the host's
hosts_before=$(sha256sum </etc/hosts)
brun -- sh -c 'grep -q localhost /etc/hosts && echo 6.6.6.6 evil >>/etc/hosts && echo written'
expect "/etc/hosts readable and writable" 0 "written"
if [[ $(sha256sum </etc/hosts) == "$hosts_before" ]]; then
	ok "host /etc/hosts untouched"
else
	fail "host /etc/hosts untouched" "changed"
fi

# a ROOT lacking /proc, /sys, /dev and /etc/hosts: no trace after the step
rmdir "$root/proc" "$root/sys"
rm -rf "$root/dev"
rm -f "$root/etc/hosts" "$root/etc/resolv.conf"
listing() { (cd "$root" && find . -printf '%p %y %m %T@\n' | LC_ALL=C sort); }
before=$(listing)
brun -- sh -c 'ls /proc/self/status /sys/kernel /dev/null /etc/hosts >/dev/null && echo mounted'
expect "mount points made for the step" 0 "mounted"
if [[ $(listing) == "$before" ]]; then
	ok "no trace of mount points"
else
	fail "no trace of mount points" "$(diff <(echo "$before") <(listing) | head -5)"
fi

# binds: read-only and read-write, to a target ROOT lacks
mkdir -p "$work/cache"
echo cached >"$work/cache/f"
brun --bind "$work/cache:/var/cache/x:ro" -- sh -c 'cat /var/cache/x/f; echo no >/var/cache/x/f'
if [[ $rc == 1 && $out == cached*"Read-only file system"* ]]; then
	ok "read-only bind"
else
	fail "read-only bind" "rc=$rc out='$out'"
fi
brun --bind "$work/cache:/cache" -- sh -c 'echo yes >/cache/g'
expect "read-write bind" 0 ""
if [[ $(cat "$work/cache/g" 2>/dev/null) == yes && ! -e $root/cache && $(listing) == "$before" ]]; then
	ok "bind target removed, data kept"
else
	fail "bind target removed, data kept" "$(ls -la "$root")"
fi

# /sys is read-only
brun -- sh -c 'touch /sys/kiln 2>/dev/null || echo refused'
expect "/sys read-only" 0 "refused"

echo "$passes passed, $fails failed"
((fails == 0))

#!/bin/bash
# The extractor through `executor debug extract`: hostile layers built with
# GNU tar tricks (-P keeps "../" and absolute names, --transform renames
# members or link targets) must be refused with one line or confined to
# ROOT, while a sentinel directory beside ROOT stays byte-for-byte the same;
# ordinary layers must come out exactly (whiteouts, opaque directories,
# replacements, hardlinks, FIFOs, devices, owners, modes, xattrs, mtimes).
set -euo pipefail
. "${KILN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/test/tools/lib.sh"
exe=${KILN_EXECUTOR:?KILN_EXECUTOR must point at build/executor}
kiln_require_root
kiln_require_cmd tar gzip zstd setfattr getfattr setcap getcap mkfifo mknod
kiln_make_tmpdir
work=$KILN_TMPDIR
fails=0 passes=0
T=1700000000

ok() {
	echo "ok   $1"
	passes=$((passes + 1))
}
fail() {
	echo "FAIL $1: $2"
	fails=$((fails + 1))
}

# tree_hash DIR: names, types, modes, owners, sizes, mtimes, link targets
# and contents of everything below DIR, as one hash.
tree_hash() {
	(
		cd "$1"
		find . -printf '%p %y %m %U:%G %s %T@ %l\n' | LC_ALL=C sort
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
	) | sha256sum
}

# A sentinel beside every ROOT: the hostile layers aim at it.
sentinel=$work/sentinel
mkdir -p "$sentinel/sub"
echo precious >"$sentinel/file"
echo deep >"$sentinel/sub/deeper"
ln -s file "$sentinel/link"
sentinel_hash=$(tree_hash "$sentinel")
passwd_hash=$(sha256sum </etc/passwd)
passwd_links=$(stat -c %h /etc/passwd)
srel=${sentinel#/} # the sentinel's path as a name inside ROOT

# new_case NAME: a fresh ROOT and a source dir for its layers.
new_case() {
	name=$1
	root=$work/$name/root
	src=$work/$name/src
	lay=$work/$name
	mkdir -p "$root" "$src"
}

# mk_layer FILE TAR-ARGS...: a plain tar of members of $src.
mk_layer() {
	local out=$1
	shift
	tar --format=pax -C "$src" -cPf "$out" "$@"
}

# extract_ok LAYER...: extraction must succeed and print nothing.
extract_ok() {
	local out
	if ! out=$("$exe" debug extract --root "$root" "$@" 2>&1); then
		fail "$name" "extraction failed: $out"
		return 1
	fi
	if [[ -n $out ]]; then
		fail "$name" "unexpected output: $out"
		return 1
	fi
}

# extract_refused WANT LAYER...: exit 1 with exactly the line WANT.
extract_refused() {
	local want=$1 out rc=0
	shift
	out=$("$exe" debug extract --root "$root" "$@" 2>&1) || rc=$?
	if [[ $rc != 1 ]]; then
		fail "$name" "exit $rc, wanted 1 (output: $out)"
	elif [[ $out != "$want" ]]; then
		fail "$name" "wanted '$want', got '$out'"
	else
		ok "$name"
	fi
}

# expect TEST-ARGS... : a `test` that must hold in ROOT.
expect() {
	if (cd "$root" && test "$@"); then
		return 0
	fi
	fail "$name" "expected: test $*"
	return 1
}

expect_eq() {
	if [[ $1 == "$2" ]]; then
		return 0
	fi
	fail "$name" "$3: wanted '$2', got '$1'"
	return 1
}

# ------------------------------------------------------- hostile layers

new_case dotdot
echo evil >"$src/evil"
mk_layer "$lay/l.tar" --transform='s,^evil$,../../evil,' evil
extract_refused "$lay/l.tar: entry '../../evil': name climbs above the root with '..'" "$lay/l.tar"

new_case dotdot-inner
mkdir -p "$src/a"
echo evil >"$src/a/evil"
mk_layer "$lay/l.tar" --transform='s,^a/evil$,a/../../evil,' a/evil
extract_refused "$lay/l.tar: entry 'a/../../evil': name climbs above the root with '..'" \
	"$lay/l.tar"

new_case absolute
echo evil >"$src/evil"
mk_layer "$lay/l.tar" --transform="s,^evil\$,$sentinel/abs-evil," evil
extract_ok "$lay/l.tar" && expect -f "$srel/abs-evil" && expect ! -e evil && ok "$name"

new_case symlink-to-slash
echo evil >"$src/evil"
ln -s / "$src/x"
mk_layer "$lay/l.tar" --transform="s,^evil\$,x/$srel/through-slash,S" x evil
extract_ok "$lay/l.tar" && expect -L x && expect -f "$srel/through-slash" && ok "$name"

new_case hardlink-passwd
echo p >"$src/p"
ln "$src/p" "$src/h"
mk_layer "$lay/l.tar" --transform='s,^p$,/etc/passwd,RS' p h
extract_refused "$lay/l.tar: entry 'h': hardlink target '/etc/passwd' not found in the root" \
	"$lay/l.tar"

new_case hardlink-passwd-inside
mkdir -p "$root/etc"
echo root-of-image >"$root/etc/passwd"
echo p >"$src/p"
ln "$src/p" "$src/h"
mk_layer "$lay/l.tar" --transform='s,^p$,/etc/passwd,RS' p h
extract_ok "$lay/l.tar" && expect h -ef etc/passwd && expect_eq "$(cat "$root/h")" root-of-image \
	"linked content" && ok "$name"

new_case symlink-chain
ln -s l2 "$src/l1"
ln -s ../../../../../.. "$src/l2"
ln -s "l1/$srel" "$src/l3"
echo evil >"$src/evil"
mk_layer "$lay/l.tar" --transform='s,^evil$,l3/chain-evil,S' l1 l2 l3 evil
extract_ok "$lay/l.tar" && expect -f "$srel/chain-evil" && ok "$name"

new_case symlink-then-file-two-layers
ln -s "$sentinel" "$src/s"
ln -s "$sentinel/file" "$src/f"
mk_layer "$lay/1.tar" s f
rm "$src/s" "$src/f"
mkdir "$src/s"
echo evil >"$src/s/pwned"
echo replaced >"$src/f"
mk_layer "$lay/2.tar" s/pwned f
extract_ok "$lay/1.tar" "$lay/2.tar" && expect -f "$srel/pwned" && expect ! -L f &&
	expect_eq "$(cat "$root/f")" replaced "f" && ok "$name"

new_case planted-in-lower
ln -s "$sentinel" "$root/etc"
ln -s ../../../.. "$root/up"
mkdir -p "$src/etc" "$src/up"
echo evil >"$src/etc/file"
echo evil >"$src/up/escaped"
mk_layer "$lay/l.tar" etc/file up/escaped
extract_ok "$lay/l.tar" && expect -f "$srel/file" && expect -f escaped && ok "$name"

new_case hardlink-to-outward-symlink
ln -s "$sentinel/file" "$src/s"
ln "$src/s" "$src/h"
mk_layer "$lay/1.tar" s h
echo overwritten >"$src/h2"
mk_layer "$lay/2.tar" --transform='s,^h2$,h,' h2
extract_ok "$lay/1.tar" "$lay/2.tar" && expect -L s && expect ! -L h &&
	expect_eq "$(cat "$root/h")" overwritten "h" && ok "$name"

new_case whiteouts-through-symlinks
ln -s "$sentinel" "$src/s"
mk_layer "$lay/1.tar" s
mkdir -p "$src/d"
: >"$src/d/.wh.file"
: >"$src/d/.wh..wh..opq"
mk_layer "$lay/2.tar" --transform='s,^d/,s/,' d/.wh.file d/.wh..wh..opq
extract_ok "$lay/1.tar" "$lay/2.tar" && expect -L s && ok "$name"

new_case whiteout-dotdot
: >"$src/.wh.x"
mk_layer "$lay/l.tar" --transform='s,^.wh.x$,a/.wh..,' .wh.x
extract_refused "$lay/l.tar: entry 'a/.wh..': invalid whiteout name" "$lay/l.tar"

now_hash=$(tree_hash "$sentinel")
if [[ $now_hash == "$sentinel_hash" ]]; then ok "sentinel unchanged"; else
	fail "sentinel" "changed:"
	find "$sentinel" -printf '    %p %y %m %s %l\n'
fi
if [[ $(sha256sum </etc/passwd) == "$passwd_hash" && $(stat -c %h /etc/passwd) == "$passwd_links" ]]; then
	ok "/etc/passwd unchanged"
else
	fail "/etc/passwd" "changed"
fi

# ------------------------------------------------------ ordinary layers

new_case whiteout-opaque
mkdir -p "$src/a" "$src/b" "$src/o/sub"
echo x >"$src/a/x"
echo y >"$src/a/y"
echo z >"$src/b/z"
echo old >"$src/o/old"
echo old >"$src/o/sub/old"
mk_layer "$lay/1.tar" a b o
rm -rf "$src"/*
mkdir -p "$src/a" "$src/o/sub"
: >"$src/a/.wh.x"
: >"$src/.wh.b"
: >"$src/o/.wh..wh..opq"
echo new >"$src/o/new"
echo new >"$src/o/sub/new"
mk_layer "$lay/2.tar" a/.wh.x .wh.b o/.wh..wh..opq o/new o/sub/new
extract_ok "$lay/1.tar" "$lay/2.tar" && expect ! -e a/x && expect -f a/y && expect ! -e b &&
	expect ! -e a/.wh.x && expect ! -e .wh.b && expect ! -e o/old && expect ! -e o/sub/old &&
	expect -f o/new && expect -f o/sub/new && expect ! -e o/.wh..wh..opq && ok "$name"

new_case whiteout-same-layer
echo mine >"$src/f"
: >"$src/.wh.f"
mk_layer "$lay/l.tar" f .wh.f
extract_ok "$lay/l.tar" && expect -f f && ok "$name"

new_case replace-file-dir
mkdir -p "$src/d/in"
echo f >"$src/f"
echo inner >"$src/d/in/x"
mk_layer "$lay/1.tar" f d
rm -rf "$src"/*
mkdir -p "$src/f"
echo under >"$src/f/under"
echo now-a-file >"$src/d"
mk_layer "$lay/2.tar" f d
extract_ok "$lay/1.tar" "$lay/2.tar" && expect -d f && expect -f f/under && expect -f d &&
	expect_eq "$(cat "$root/d")" now-a-file "d" && ok "$name"

new_case hardlinks
echo shared >"$src/a"
ln "$src/a" "$src/b"
mk_layer "$lay/l.tar" a b
extract_ok "$lay/l.tar" && expect a -ef b && expect_eq "$(stat -c %h "$root/a")" 2 "links" &&
	ok "$name"

new_case special-files
mkfifo "$src/fifo"
mknod "$src/null" c 1 3
mk_layer "$lay/l.tar" fifo null
extract_ok "$lay/l.tar" && expect -p fifo && expect -c null &&
	expect_eq "$(stat -c %t:%T "$root/null")" 1:3 "device numbers" && ok "$name"

new_case owners-modes
echo s >"$src/suid"
echo g >"$src/sgid"
mkdir "$src/sticky"
chown 1234:5678 "$src/suid" "$src/sgid"
chmod 4755 "$src/suid"
chmod 2711 "$src/sgid"
chmod 1777 "$src/sticky"
ln -s suid "$src/link"
chown -h 42:43 "$src/link"
mk_layer "$lay/l.tar" --numeric-owner suid sgid sticky link
extract_ok "$lay/l.tar" &&
	expect_eq "$(stat -c '%a %u:%g' "$root/suid")" "4755 1234:5678" suid &&
	expect_eq "$(stat -c '%a %u:%g' "$root/sgid")" "2711 1234:5678" sgid &&
	expect_eq "$(stat -c '%a' "$root/sticky")" 1777 sticky &&
	expect_eq "$(stat -c '%u:%g' "$root/link")" 42:43 "symlink owner" && ok "$name"

new_case xattrs
echo cap >"$src/ping"
echo attr >"$src/attr"
if setcap cap_net_raw+ep "$src/ping" 2>/dev/null && setfattr -n user.kiln -v hello "$src/attr" 2>/dev/null; then
	mk_layer "$lay/l.tar" --xattrs --xattrs-include='*' ping attr
	extract_ok "$lay/l.tar" &&
		expect_eq "$(getcap "$root/ping" | sed 's,.* ,,')" cap_net_raw=ep capability &&
		expect_eq "$(getfattr --absolute-names --only-values -n user.kiln "$root/attr")" hello user.kiln &&
		ok "$name"
else
	kiln_log "xattrs: this file system takes no xattrs in $work; case not run"
	[[ ${CI:-} != true ]] || fail "$name" "no xattr support under $work in CI"
fi

new_case mtimes
mkdir -p "$src/d/e"
echo f >"$src/d/e/f"
ln -s f "$src/d/e/l"
touch -h -d @$((T + 3)) "$src/d/e/l"
touch -d @$((T + 2)) "$src/d/e/f"
touch -d @$((T + 1)) "$src/d/e"
touch -d @$T "$src/d"
mk_layer "$lay/l.tar" d
extract_ok "$lay/l.tar" &&
	expect_eq "$(stat -c %Y "$root/d") $(stat -c %Y "$root/d/e") $(stat -c %Y "$root/d/e/f") $(stat -c %Y "$root/d/e/l")" \
		"$T $((T + 1)) $((T + 2)) $((T + 3))" "mtimes d d/e d/e/f d/e/l" && ok "$name"

new_case compressed
mkdir -p "$src/d"
echo one >"$src/d/one"
mk_layer "$lay/l.tar" d
gzip -c "$lay/l.tar" >"$lay/l.tar.gz"
zstd -q -c "$lay/l.tar" >"$lay/l.tar.zst"
extract_ok "$lay/l.tar.gz" && expect -f d/one && rm -rf "${root:?}/d" &&
	extract_ok "$lay/l.tar.zst" && expect -f d/one && ok "$name"

new_case seed-check
mkdir -p "$src/d"
echo one >"$src/d/one"
ln "$src/d/one" "$src/d/two"
ln -s one "$src/d/three"
mk_layer "$lay/l.tar" d
out=$("$exe" debug extract --seed-check --root "$root" "$lay/l.tar" 2>&1) || true
expect_eq "$out" "" "changes after a seeded extraction" && ok "$name"

new_case ignore-path
mkdir -p "$root/ign" "$src/ign"
echo keep >"$root/ign/keep"
echo new >"$src/ign/new"
: >"$src/.wh.ign"
mk_layer "$lay/1.tar" ign/new
mk_layer "$lay/2.tar" .wh.ign
if out=$("$exe" debug extract --ignore-path /ign --root "$root" "$lay/1.tar" "$lay/2.tar" 2>&1); then
	expect -f ign/keep && expect ! -e ign/new && ok "$name"
else
	fail "$name" "$out"
fi

new_case mount-point
mkdir -p "$root/mnt" "$src/mnt"
if mount -t tmpfs kiln-test "$root/mnt" 2>/dev/null; then
	kiln_on_exit umount "$root/mnt"
	echo k >"$root/mnt/k"
	echo new >"$src/mnt/new"
	: >"$src/.wh.mnt"
	mk_layer "$lay/1.tar" mnt/new
	mk_layer "$lay/2.tar" .wh.mnt
	extract_ok "$lay/1.tar" "$lay/2.tar" && expect -f mnt/k && expect ! -e mnt/new && ok "$name"
else
	kiln_log "mount-point: cannot mount a tmpfs here; case not run"
	[[ ${CI:-} != true ]] || fail "$name" "cannot mount a tmpfs in CI"
fi

echo "$passes passed, $fails failed"
((fails == 0))

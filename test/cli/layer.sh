#!/bin/bash
# The layer writer through `executor debug snapshot --layer`, checked with
# independent tools: gzip -t, GNU tar's listing (bytewise order, parents,
# whiteouts) and extraction (contents, types, modes, owners, mtimes, link
# targets, hardlinks, devices, xattrs, security.capability through getcap),
# the digest and diff_id lines against sha256sum, the same bytes with 1 or 4
# threads, no file for an empty change set, and umoci unpacking the
# busybox fixture with two kiln layers on top.
set -euo pipefail
# shellcheck source=test/tools/lib.sh
. "${KILN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/test/tools/lib.sh"
exe=${KILN_EXECUTOR:?KILN_EXECUTOR must point at build/executor}
kiln_require_root # owners, device nodes, security.capability
kiln_require_cmd gzip tar setcap getcap getfattr setfattr sha256sum jq umoci
kiln_make_tmpdir
work=$KILN_TMPDIR
T=1700000000

# snap_layer ROOT LAYER CHANGE [FLAGS...]: baseline ROOT, run CHANGE in it,
# print what the executor prints (change lines, digest, diff_id).
snap_layer() {
	local root=$1 layer=$2 change=$3 line out
	shift 3
	coproc SNAP { "$exe" debug snapshot "$@" --layer "$layer" "$root" 2>&1; }
	read -r line <&"${SNAP[0]}" || line="(no output)"
	[[ $line == ready ]] || kiln_die "expected 'ready', got '$line'"
	(cd "$root" && eval "$change")
	echo go >&"${SNAP[1]}"
	out=$(cat <&"${SNAP[0]}")
	wait "$SNAP_PID" || kiln_die "executor failed: $out"
	printf '%s\n' "$out"
}

# The tree every layer below adds: one of each kind of entry.
make_template() {
	local t=$1 long
	mkdir -p "$t"/usr/bin "$t"/usr/lib "$t"/srv "$t"/tmp
	printf 'tool v1\n' >"$t/usr/bin/tool"
	chmod 0755 "$t/usr/bin/tool"
	ln "$t/usr/bin/tool" "$t/usr/bin/tool-hard"
	ln -s tool "$t/usr/bin/t"
	printf 'ping\n' >"$t/usr/bin/ping"
	chmod 0755 "$t/usr/bin/ping"
	setcap cap_net_raw+ep "$t/usr/bin/ping"
	head -c 3000000 /dev/urandom >"$t/usr/lib/blob"
	seq 1 300000 >"$t/usr/lib/numbers"
	chmod 0700 "$t/srv"
	chmod 1777 "$t/tmp"
	printf 'owned\n' >"$t/srv/owned"
	chown 1234:5678 "$t/srv/owned"
	chmod 0640 "$t/srv/owned"
	printf 'suid\n' >"$t/srv/setuid"
	chmod 4755 "$t/srv/setuid"
	printf 'x\n' >"$t/srv/xattr"
	setfattr -n user.note -v hello "$t/srv/xattr"
	mkfifo -m 0600 "$t/srv/fifo"
	mknod -m 0666 "$t/srv/null" c 1 3
	long=deep/$(printf 'directory-%02d/' $(seq 1 12))
	mkdir -p "$t/$long"
	printf 'deep\n' >"$t/${long}file"
	ln -s "$(printf '../target-%03d/' $(seq 1 25))end" "$t/deep/longlink"
	find "$t" -exec touch -h -d @$T {} +
}

# find's view of a tree: one line per path, everything tar should keep.
describe() {
	(cd "$1" && find . -mindepth 1 -printf '%P|%y|%m|%U:%G|%T@|%l|' -exec sh -c '
		for p; do
			if [ -f "$p" ] && [ ! -L "$p" ]; then sha256sum <"$p" | cut -c1-16; else
			stat -c "%t,%T" "$p"; fi
		done' sh {} \; | LC_ALL=C sort)
}

base_setup="mkdir -p var/lib/old etc && echo x > var/lib/old/f && echo g > etc/group &&
	touch -d @$T var var/lib etc"
main_change="rm -rf var/lib/old etc/group && touch -d @$T var/lib etc && cp -a '$work/template/.' ."

make_template "$work/template"
[[ -n $(getcap "$work/template/usr/bin/ping") ]] || kiln_skip "setcap has no effect here"

# ---------------------------------------------------------- one layer, read back
mkdir -p "$work/r1"
(cd "$work/r1" && eval "$base_setup")
out=$(snap_layer "$work/r1" "$work/l1.tar.gz" "$main_change" --threads 1)
gzip -t "$work/l1.tar.gz" || kiln_die "gzip -t rejects the layer"
digest=$(sed -n 's/^digest //p' <<<"$out")
diff_id=$(sed -n 's/^diff_id //p' <<<"$out")
kiln_assert_eq "sha256:$(sha256sum <"$work/l1.tar.gz" | cut -d' ' -f1)" "$digest" "digest line"
kiln_assert_eq "sha256:$(gzip -dc "$work/l1.tar.gz" | sha256sum | cut -d' ' -f1)" "$diff_id" \
	"diff_id line"
kiln_assert_eq 2 "$(grep -c '^D ' <<<"$out")" "deletions in the change set"

# GNU tar's listing: bytewise order, the changed paths, their parents and one
# whiteout per deletion
tar -tzf "$work/l1.tar.gz" | sed 's|/$||' >"$work/names"
LC_ALL=C sort -c "$work/names" || kiln_die "entries are not in bytewise order"
{
	(cd "$work/template" && find . -mindepth 1 -printf '%P\n')
	printf '%s\n' etc etc/.wh.group var var/lib var/lib/.wh.old
} | LC_ALL=C sort >"$work/names.want"
diff -u "$work/names.want" "$work/names" || kiln_die "tar -t listing differs from the tree"
listing=$(tar -tvzf "$work/l1.tar.gz")
grep -q '^h.* usr/bin/tool-hard link to usr/bin/tool$' <<<"$listing" ||
	kiln_die "tool-hard is not a hardlink to tool"
grep -q '^-rw-r----- 1234/5678 .* srv/owned$' <<<"$listing" ||
	kiln_die "numeric owner of srv/owned"

# GNU tar extraction gives back the tree (types, modes, owners, mtimes,
# content, link targets, device numbers)
mkdir -p "$work/x1"
tar --xattrs --xattrs-include='*' --numeric-owner -xpzf "$work/l1.tar.gz" -C "$work/x1"
for p in etc/.wh.group var/lib/.wh.old; do
	[[ -f $work/x1/$p && ! -s $work/x1/$p ]] || kiln_die "whiteout $p missing"
done
rm -rf "$work/x1/etc" "$work/x1/var"
diff -u <(describe "$work/template") <(describe "$work/x1") ||
	kiln_die "GNU tar extracts a different tree"
[[ $(stat -c %i "$work/x1/usr/bin/tool") == $(stat -c %i "$work/x1/usr/bin/tool-hard") ]] ||
	kiln_die "hardlink not restored"
kiln_assert_eq hello "$(getfattr --absolute-names --only-values -n user.note "$work/x1/srv/xattr")" "user xattr"
kiln_assert_eq "$work/x1/usr/bin/ping cap_net_raw=ep" "$(getcap "$work/x1/usr/bin/ping")" \
	"security.capability after GNU tar --xattrs"
echo "ok   layer read back by gzip and GNU tar"

# ------------------------------------------- same bytes with 4 threads, again
mkdir -p "$work/r2"
(cd "$work/r2" && eval "$base_setup")
out2=$(snap_layer "$work/r2" "$work/l2.tar.gz" "$main_change" --threads 4)
kiln_assert_eq "$out" "$out2" "output with --threads 4"
cmp "$work/l1.tar.gz" "$work/l2.tar.gz" || kiln_die "layer bytes differ with --threads 4"
echo "ok   same layer bytes with 1 and 4 threads"

# --------------------- --compression-level: other bytes, same tar, valid gzip
mkdir -p "$work/r4"
(cd "$work/r4" && eval "$base_setup")
out4=$(snap_layer "$work/r4" "$work/l4.tar.gz" "$main_change" --compression-level 1)
gzip -t "$work/l4.tar.gz" || kiln_die "level 1 layer is not valid gzip"
kiln_assert_eq "$(sed -n 's/^diff_id //p' <<<"$out")" "$(sed -n 's/^diff_id //p' <<<"$out4")" \
	"diff_id at --compression-level 1"
[[ $(stat -c %s "$work/l4.tar.gz") -gt $(stat -c %s "$work/l1.tar.gz") ]] ||
	kiln_die "--compression-level 1 did not give a larger layer than the default"
if "$exe" debug snapshot --compression-level 12 --layer "$work/x" "$work/r4" </dev/null 2>/dev/null; then
	kiln_die "--compression-level 12 was accepted"
fi
echo "ok   --compression-level changes the gzip bytes, not the tar"

# ------------------------------------------------ empty change set: no layer
out=$(snap_layer "$work/r2" "$work/empty.tar.gz" ":")
kiln_assert_eq "" "$out" "output for an empty change set"
[[ ! -e $work/empty.tar.gz ]] || kiln_die "an empty change set wrote a layer"
echo "ok   no layer for an empty change set"

# --------------------------------- umoci: busybox + kiln's base + kiln's layer
mkdir -p "$work/r3"
base_out=$(snap_layer "$work/r3" "$work/base.tar.gz" "$base_setup")
kiln_fixture busybox
cp -a "$KILN_FIXTURE_DIR" "$work/oci"
# add_layer FILE DIFF_ID: append a layer to the busybox image (new config,
# manifest and index; the old blobs stay, unreferenced)
add_layer() {
	local file=$1 diff_id=$2 d size idx mf cfg blobs="$work/oci/blobs/sha256"
	d=$(sha256sum <"$file" | cut -d' ' -f1)
	size=$(stat -c %s "$file")
	cp "$file" "$blobs/$d"
	idx="$work/oci/index.json"
	mf=$(jq -r '.manifests[0].digest' "$idx" | cut -d: -f2)
	cfg=$(jq -r '.config.digest' "$blobs/$mf" | cut -d: -f2)
	jq -c --arg id "$diff_id" '.rootfs.diff_ids += [$id]' "$blobs/$cfg" >"$work/cfg.json"
	cfg=$(sha256sum <"$work/cfg.json" | cut -d' ' -f1)
	mv "$work/cfg.json" "$blobs/$cfg"
	jq -c --arg d "sha256:$d" --argjson s "$size" --arg c "sha256:$cfg" \
		--argjson cs "$(stat -c %s "$blobs/$cfg")" \
		'.config.digest = $c | .config.size = $cs | .layers += [{
		  mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $d, size: $s}]' \
		"$blobs/$mf" >"$work/mf.json"
	mf=$(sha256sum <"$work/mf.json" | cut -d' ' -f1)
	mv "$work/mf.json" "$blobs/$mf"
	jq -c --arg m "sha256:$mf" --argjson ms "$(stat -c %s "$blobs/$mf")" \
		'.manifests[0].digest = $m | .manifests[0].size = $ms' "$idx" >"$work/idx.json"
	mv "$work/idx.json" "$idx"
}
add_layer "$work/base.tar.gz" "$(sed -n 's/^diff_id //p' <<<"$base_out")"
add_layer "$work/l1.tar.gz" "$diff_id"
umoci unpack --image "$work/oci:busybox" "$work/bundle" >/dev/null ||
	kiln_die "umoci unpack failed"
rootfs=$work/bundle/rootfs
[[ -x $rootfs/bin/busybox ]] || kiln_die "busybox base missing from the unpacked image"
[[ ! -e $rootfs/etc/group && ! -e $rootfs/var/lib/old ]] ||
	kiln_die "whiteouts not applied by umoci"
[[ ! -e $rootfs/etc/.wh.group && ! -e $rootfs/var/lib/.wh.old ]] ||
	kiln_die "umoci left whiteout files"
# the paths kiln's layer wrote, out of a rootfs that also holds busybox's
for p in usr/bin/tool usr/bin/tool-hard usr/bin/t usr/bin/ping usr/lib srv tmp deep; do
	mkdir -p "$work/x3/$(dirname "$p")"
	cp -a "$rootfs/$p" "$work/x3/$p"
done
diff -u <(describe "$work/template" | grep -v '^usr|\|^usr/bin|') \
	<(describe "$work/x3" | grep -v '^usr|\|^usr/bin|') ||
	kiln_die "umoci unpacks a different tree"
kiln_assert_eq "$rootfs/usr/bin/ping cap_net_raw=ep" "$(getcap "$rootfs/usr/bin/ping")" \
	"security.capability after umoci unpack"
echo "ok   umoci unpacks busybox + kiln layers to the expected tree"

# ----------------------- a directory made anew: opaque marker, whole contents
op=$work/opaque
mkdir -p "$op/d/sub"
echo 1 >"$op/d/a"
echo 2 >"$op/d/b"
echo 3 >"$op/d/sub/x"
cp -a "$op" "$work/opaque-lower"
out=$(snap_layer "$op" "$work/opaque.tar.gz" \
	'mv d d.old; mkdir d; echo 1 > d/a; echo 4 > d/c; rm -rf d.old')
kiln_assert_eq "$(printf 'C /d\nC /d/a\nA /d/c')" "$(grep -v '^digest\|^diff_id' <<<"$out")" \
	"change set of a directory made anew"
kiln_assert_eq "$(printf 'd/\nd/.wh..wh..opq\nd/a\nd/c')" "$(tar -tzf "$work/opaque.tar.gz")" \
	"entries of a directory made anew"
"$exe" debug extract --root "$work/opaque-lower" "$work/opaque.tar.gz" ||
	kiln_die "extracting the opaque layer failed"
kiln_assert_eq "$(cd "$op" && find . | sort)" "$(cd "$work/opaque-lower" && find . | sort)" \
	"tree after applying the opaque layer over the old one"
echo "ok   a directory made anew is an opaque directory with all its contents"

#!/bin/bash
# The outputs through `executor debug output`: the busybox fixture goes to
# a registry (several tags, two repositories, a cross-repository mount), a
# `docker save` tarball, an OCI layout and kaniko's digest files, and each
# result is read back by independent tools (skopeo, podman, umoci). Failed
# outputs must leave nothing that looks complete: no tag in the registry,
# no file at --tar-path.
set -euo pipefail
. "${KILN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/test/tools/lib.sh"
. "$KILN_SOURCE_DIR/test/tools/registry.sh"
exe=${KILN_EXECUTOR:?KILN_EXECUTOR must point at build/executor}
kiln_require_root
kiln_require_cmd skopeo umoci podman docker-registry jq curl gzip tar
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
# verify NAME WHY CMD...: ok when CMD succeeds, else a failure saying WHY.
verify() {
	local name=$1 why=$2
	shift 2
	if "$@"; then ok "$name"; else fail "$name" "$why"; fi
}
check() { # check NAME EXPECTED ACTUAL
	if [[ $2 == "$3" ]]; then ok "$1"; else fail "$1" "expected '$2', got '$3'"; fi
}

kiln_fixture busybox
src=$KILN_FIXTURE_DIR
digest=$(jq -r '.manifests[0].digest' "$src/index.json")
manifest=$src/blobs/sha256/${digest#sha256:}
config_digest=$(jq -r .config.digest "$manifest")
diff_ids=$(jq -c .rootfs.diff_ids "$src/blobs/sha256/${config_digest#sha256:}")

kiln_registry_start
reg=$KILN_REGISTRY
kiln_fixture_push busybox "$reg" base/busybox:1

# ------------------------------------------------------------ every output
out=$work/out
mkdir "$out"
if ! "$exe" debug output "$src" --push "$reg/app" --push "$reg/app:v2" \
	--push "$reg/other/img:1" --push "$reg/app:latest" --mount-from "$reg/base/busybox" \
	--tar-path "$out/image.tar" --oci-layout-path "$out/layout" --ref-name latest \
	--digest-file "$out/digest" --image-name-with-digest-file "$out/name" \
	--image-name-tag-with-digest-file "$out/name-tag" >"$out/stdout" 2>"$out/log"; then
	cat "$out/log"
	kiln_die "debug output failed"
fi
check "stdout is the manifest digest" "$digest" "$(cat "$out/stdout")"
check "one 'Pushed' line per distinct destination" 3 "$(grep -c "Pushed $reg/.*@$digest" "$out/log")"
check "repeated destination pushed once" 2 "$(grep -c "Pushed $reg/app@$digest" "$out/log")"

# ------------------------------------------------------------ digest files
check "digest file" "$digest" "$(cat "$out/digest")"
check "digest file has no newline" "$(printf %s "$digest" | wc -c)" "$(wc -c <"$out/digest")"
printf '%s\n' "$reg/app@$digest" "$reg/app@$digest" "$reg/other/img@$digest" \
	"$reg/app@$digest" >"$work/want-name"
printf '%s\n' "$reg/app:latest@$digest" "$reg/app:v2@$digest" "$reg/other/img:1@$digest" \
	"$reg/app:latest@$digest" >"$work/want-name-tag"
if cmp -s "$work/want-name" "$out/name"; then ok "image-name-with-digest file"; else
	fail "image-name-with-digest file" "$(cat "$out/name")"; fi
if cmp -s "$work/want-name-tag" "$out/name-tag"; then ok "image-name-tag-with-digest file"; else
	fail "image-name-tag-with-digest file" "$(cat "$out/name-tag")"; fi

# ---------------------------------------------------------------- registry
for ref in app:latest app:v2 other/img:1; do
	got=$(kiln_skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$reg/$ref" 2>&1) || true
	check "registry has $ref" "$digest" "$got"
done
got=$(curl -s "$KILN_REGISTRY_URL/v2/app/blobs/$config_digest" | sha256sum | cut -d' ' -f1)
check "config blob in app" "${config_digest#sha256:}" "$got"
if grep -q "mount=.*from=base" "$KILN_REGISTRY_LOG"; then ok "layers mounted from base/busybox"; else
	fail "layers mounted from base/busybox" "no mount request in the registry log"; fi

# ----------------------------------------------------------------- tarball
tar=$out/image.tar
got=$(kiln_skopeo inspect --format '{{.Digest}}' "docker-archive:$tar:$reg/app:v2" 2>&1) || true
verify "skopeo inspect docker-archive (by tag)" "$got" [ "${got#sha256:}" != "$got" ]
got=$(kiln_skopeo inspect "docker-archive:$tar" | jq -c .Layers 2>&1) || true
check "docker-archive layers are the diff_ids" "$diff_ids" "$got"
got=$(tar -xOf "$tar" manifest.json | jq -c '.[0].RepoTags')
check "manifest.json RepoTags" "[\"$reg/app:latest\",\"$reg/app:v2\",\"$reg/other/img:1\"]" "$got"
top=$(jq -r '.[-1]' <<<"$diff_ids")
top=${top#sha256:}
check "repositories file" "{\"$reg/app\":{\"latest\":\"$top\",\"v2\":\"$top\"},\"$reg/other/img\":{\"1\":\"$top\"}}" \
	"$(tar -xOf "$tar" repositories | jq -c .)"
check "layers are uncompressed tars" "POSIX tar archive" \
	"$(tar -xOf "$tar" "$(tar -xOf "$tar" manifest.json | jq -r '.[0].Layers[0]')" | file -b - | cut -c1-17)"
if kiln_skopeo copy --quiet "docker-archive:$tar" "oci:$work/copy:x" >"$work/copy.log" 2>&1; then
	# skopeo re-encodes the config when it converts to OCI: compare content.
	got=$(kiln_skopeo inspect --config "oci:$work/copy:x" | jq -cS .)
	check "skopeo copy docker-archive keeps the config" \
		"$(jq -cS . "$src/blobs/sha256/${config_digest#sha256:}")" "$got"
else
	fail "skopeo copy docker-archive" "$(cat "$work/copy.log")"
fi
pod=(podman --root "$work/podman" --runroot "$work/run" --storage-driver vfs)
if "${pod[@]}" load -i "$tar" >"$work/load.log" 2>&1; then
	got=$("${pod[@]}" images --format '{{.Repository}}:{{.Tag}} {{.ID}}' | sort | tr '\n' ' ')
	id=${config_digest#sha256:}
	check "podman load" "$reg/app:latest ${id:0:12} $reg/app:v2 ${id:0:12} $reg/other/img:1 ${id:0:12} " "$got"
	"${pod[@]}" rmi -f "$id" >/dev/null 2>&1 || fail "podman rmi" "could not remove $id"
else
	fail "podman load" "$(cat "$work/load.log")"
fi

# -------------------------------------------------------------- OCI layout
lay=$out/layout
check "skopeo inspect oci:" "$digest" "$(kiln_skopeo inspect --format '{{.Digest}}' "oci:$lay:latest" 2>&1)"
if umoci unpack --image "$lay:latest" "$work/bundle" >"$work/umoci.log" 2>&1 &&
	[[ -x $work/bundle/rootfs/bin/busybox ]]; then ok "umoci unpack"; else
	fail "umoci unpack" "$(cat "$work/umoci.log")"; fi
"$exe" debug output "$src" --oci-layout-path "$lay" --ref-name latest >/dev/null 2>&1
check "same ref name replaces the entry" 1 "$(jq '.manifests | length' "$lay/index.json")"
"$exe" debug output "$src" --oci-layout-path "$lay" --ref-name other >/dev/null 2>&1
check "another ref name adds an entry" "latest other" \
	"$(jq -r '[.manifests[].annotations["org.opencontainers.image.ref.name"]] | join(" ")' "$lay/index.json")"

# ---------------------------------------------------------------- failures
# A blob missing from the blob directory: nothing pushed, no tarball.
broken=$work/broken
cp -r "$src" "$broken"
layer=$(jq -r '.layers[0].digest' "$manifest")
rm "$broken/blobs/sha256/${layer#sha256:}"
if "$exe" debug output "$broken" --push "$reg/broken:1" --tar-path "$work/broken.tar" \
	>/dev/null 2>"$work/broken.log"; then
	fail "missing blob fails" "exit 0"
else
	ok "missing blob fails: $(tail -n1 "$work/broken.log")"
fi
check "no tag after a failed push" 404 \
	"$(curl -s -o /dev/null -w '%{http_code}' "$KILN_REGISTRY_URL/v2/broken/manifests/1")"
verify "no tarball after a failed push" "$work/broken.tar exists" [ ! -e "$work/broken.tar" ]

# A layer whose content is not what the config's diff_id says: no tarball.
bad=$work/bad
cp -r "$src" "$bad"
echo "not the layer" | gzip -n >"$bad/blobs/sha256/${layer#sha256:}"
if "$exe" debug output "$bad" --tar-path "$work/bad.tar" >/dev/null 2>"$work/bad.log"; then
	fail "wrong diff_id fails" "exit 0"
else
	ok "wrong diff_id fails: $(tail -n1 "$work/bad.log")"
fi
verify "no tarball after a failed write" "$work/bad.tar exists" [ ! -e "$work/bad.tar" ]
verify "no temporary file left" "$(ls -a "$work")" \
	[ -z "$(find "$work" -maxdepth 1 -name 'bad.tar*')" ]

# The registry gone: the push fails and nothing else is written.
kiln_registry_stop
if "$exe" debug output "$src" --push "$reg/app:v3" --tar-path "$work/down.tar" \
	--digest-file "$work/down.digest" >/dev/null 2>"$work/down.log"; then
	fail "push to a stopped registry fails" "exit 0"
else
	ok "push to a stopped registry fails"
fi
verify "no tarball after the registry went away" "$work/down.tar exists" [ ! -e "$work/down.tar" ]
verify "no digest file after the registry went away" "$work/down.digest exists" \
	[ ! -e "$work/down.digest" ]

echo "$passes passed, $fails failed"
((fails == 0))

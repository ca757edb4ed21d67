#!/bin/bash
# integration.client_http_round_trip: kiln's registry client against a
# plain-HTTP registry on 127.0.0.1 (allowed without --insecure: loopback).
#  - pull the busybox fixture into an OCI layout: same digests as the fixture;
#  - push that layout to two tags of another repository: skopeo sees the
#    same image; pushing again uploads nothing (HEAD first);
#  - push with --mount-from: the registry log shows cross-repository mounts
#    (POST ...?mount=...&from=... answered 201) and no upload;
#  - push with a chunk size smaller than the layer: several PATCH requests;
#  - a blob whose bytes do not match its digest (corrupted in the registry's
#    storage) is rejected by pull, and nothing is left under its name;
#  - a corrupted local blob is refused by the registry on push.
set -euo pipefail
# shellcheck source=test/tools/lib.sh
. "${KILN_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/test/tools/lib.sh"
# shellcheck source=test/tools/registry.sh
. "$KILN_SOURCE_DIR/test/tools/registry.sh"

kiln_require_cmd docker-registry skopeo umoci curl jq sha256sum
exe=${KILN_EXECUTOR:-$KILN_SOURCE_DIR/build/executor}
[[ -x $exe ]] || kiln_die "no executor at '$exe' (set KILN_EXECUTOR)"
kiln_on_exit kiln_registry_stop
kiln_make_tmpdir
work=$KILN_TMPDIR

kiln_fixture busybox
layout=$KILN_FIXTURE_DIR
kiln_registry_start || kiln_die "could not start the registry fixture"
reg=$KILN_REGISTRY log=$KILN_REGISTRY_LOG storage=$KILN_REGISTRY_DIR/storage
kiln_fixture_push busybox "$reg" kiln-test/busybox:1
want=$(jq -r '.manifests[0].digest' "$layout/index.json")
layer=$(jq -r '.layers[0].digest' "$layout/blobs/sha256/${want#sha256:}")
layer_size=$(jq -r '.layers[0].size' "$layout/blobs/sha256/${want#sha256:}")

# Pull: the layout holds the fixture's manifest, config and layer, verified.
got=$("$exe" debug pull "$reg/kiln-test/busybox:1" --output "$work/pulled")
kiln_assert_eq "$want" "$got" "digest printed by debug pull"
kiln_assert_eq "$want" "$(jq -r '.manifests[0].digest' "$work/pulled/index.json")" "index.json digest"
for f in "$work/pulled/blobs/sha256/"*; do
	kiln_assert_eq "$(basename "$f")" "$(sha256sum <"$f" | cut -d' ' -f1)" "sha256 of $f"
done
cmp "$layout/blobs/sha256/${layer#sha256:}" "$work/pulled/blobs/sha256/${layer#sha256:}" ||
	kiln_die "the pulled layer differs from the fixture's"
umoci stat --image "$work/pulled:1" >/dev/null || kiln_die "umoci cannot read the pulled layout"

# Push to two tags; skopeo sees the same image under both.
got=$("$exe" debug push "$work/pulled" "$reg/copy/busybox:a" "$reg/copy/busybox:b")
kiln_assert_eq "$want" "$got" "digest printed by debug push"
for t in a b; do
	info=$(kiln_skopeo inspect --tls-verify=false "docker://$reg/copy/busybox:$t")
	kiln_assert_eq "$want" "$(jq -r .Digest <<<"$info")" "skopeo inspect copy/busybox:$t .Digest"
	kiln_assert_eq "[\"$layer\"]" "$(jq -c .Layers <<<"$info")" "skopeo inspect copy/busybox:$t .Layers"
done
kiln_assert_eq '["a","b"]' "$(curl -fsS "http://$reg/v2/copy/busybox/tags/list" | jq -c '.tags | sort')" tags

# Again: everything is there already, nothing is uploaded.
uploads_before=$(grep -c 'POST /v2/copy/busybox/blobs/uploads/' "$log" || true)
"$exe" debug push "$work/pulled" "$reg/copy/busybox:c" >/dev/null 2>"$work/again.err"
grep -q 'already there: 2' "$work/again.err" || kiln_die "second push did not skip: $(cat "$work/again.err")"
kiln_assert_eq "$uploads_before" "$(grep -c 'POST /v2/copy/busybox/blobs/uploads/' "$log" || true)" \
	"upload sessions started by a push of blobs already there"

# Cross-repository mount: 201 to POST ?mount=&from=, no PATCH/PUT of blobs.
"$exe" debug push --mount-from kiln-test/busybox "$work/pulled" "$reg/mounted/busybox:1" >/dev/null \
	2>"$work/mount.err"
grep -q 'mounted: 2' "$work/mount.err" || kiln_die "no mount reported: $(cat "$work/mount.err")"
grep -q "\"POST /v2/mounted/busybox/blobs/uploads/?mount=$layer&from=kiln-test/busybox HTTP/1.1\" 201" "$log" ||
	kiln_die "the registry log shows no mount of $layer"
! grep -q -E '"(PATCH|PUT) /v2/mounted/busybox/blobs/uploads/' "$log" ||
	kiln_die "a mounted blob was uploaded anyway"
kiln_assert_eq "$want" "$(kiln_skopeo inspect --tls-verify=false "docker://$reg/mounted/busybox:1" | jq -r .Digest)" \
	"digest of the mounted copy"

# Chunked upload: 64 KiB chunks for a ~1 MiB layer.
chunk=65536
"$exe" debug push --chunk-size $chunk "$work/pulled" "$reg/chunked/busybox:1" >/dev/null
patches=$(grep -c '"PATCH /v2/chunked/busybox/blobs/uploads/' "$log" || true)
kiln_assert_eq $(((layer_size + chunk - 1) / chunk)) "$patches" "PATCH requests for a $layer_size-byte layer"
kiln_skopeo copy --quiet --src-tls-verify=false "docker://$reg/chunked/busybox:1" "oci:$work/chunked:1" >&2
cmp "$layout/blobs/sha256/${layer#sha256:}" "$work/chunked/blobs/sha256/${layer#sha256:}" ||
	kiln_die "the layer pushed in chunks differs"

# A blob whose bytes do not match its digest: pull fails, nothing kept.
data=$storage/docker/registry/v2/blobs/sha256/${layer:7:2}/${layer#sha256:}/data
[[ -f $data ]] || kiln_die "no blob data at $data"
printf 'X' | dd of="$data" bs=1 seek=1000 conv=notrunc status=none
if "$exe" debug pull "$reg/kiln-test/busybox:1" --output "$work/bad" >"$work/bad.out" 2>"$work/bad.err"; then
	kiln_die "pull of a corrupted blob succeeded"
fi
grep -q "does not match its digest" "$work/bad.err" || kiln_die "unexpected error: $(cat "$work/bad.err")"
[[ ! -e $work/bad/blobs/sha256/${layer#sha256:} ]] || kiln_die "the corrupted blob was kept"
[[ ! -s $work/bad.out ]] || kiln_die "a failed pull printed a digest"

# A corrupted local blob: the registry refuses it on push.
cp -r "$work/pulled" "$work/corrupt"
f=$work/corrupt/blobs/sha256/${layer#sha256:}
printf 'X' | dd of="$f" bs=1 seek=1000 conv=notrunc status=none
if "$exe" debug push "$work/corrupt" "$reg/corrupt/busybox:1" 2>"$work/corrupt.err"; then
	kiln_die "push of a corrupted blob succeeded"
fi
grep -qi "digest" "$work/corrupt.err" || kiln_die "unexpected error: $(cat "$work/corrupt.err")"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$reg/v2/corrupt/busybox/manifests/1")
kiln_assert_eq 404 "$code" "manifest of a push whose blob was refused"
kiln_log "PASS"

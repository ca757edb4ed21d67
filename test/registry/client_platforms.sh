#!/bin/bash
# integration.client_platforms: platform selection from an index. The
# busybox fixture is pushed twice, once as is (linux/amd64) and once with
# its config saying linux/arm64/v8, and an OCI index naming both is PUT
# over them. Then:
#  - --platform linux/arm64 pulls the arm64 manifest (and its config);
#  - without --platform the host's platform is chosen;
#  - pulling by the index digest works the same way;
#  - a platform the index lacks fails, listing the platforms present.
set -euo pipefail
# shellcheck source=test/tools/lib.sh
. "${KILN_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/test/tools/lib.sh"
# shellcheck source=test/tools/registry.sh
. "$KILN_SOURCE_DIR/test/tools/registry.sh"

kiln_require_cmd docker-registry skopeo curl jq sha256sum
exe=${KILN_EXECUTOR:-$KILN_SOURCE_DIR/build/executor}
[[ -x $exe ]] || kiln_die "no executor at '$exe' (set KILN_EXECUTOR)"
kiln_make_tmpdir
work=$KILN_TMPDIR
kiln_registry_start || kiln_die "could not start the registry fixture"
reg=$KILN_REGISTRY host_arch=$(kiln_oci_arch)
[[ $host_arch == amd64 || $host_arch == arm64 ]] || kiln_skip "host arch $host_arch: the index holds amd64 and arm64"

# The amd64 image: the fixture itself.
kiln_fixture_push busybox "$reg" multi/busybox:amd64
src=$KILN_FIXTURE_DIR
amd=$(jq -r '.manifests[0].digest' "$src/index.json")
# The arm64 image: same layer, a config that says arm64/v8.
blob() { printf '%s' "$src/blobs/sha256/${1#sha256:}"; }
cp -r "$src" "$work/arm"
jq -c '.architecture = "arm64" | .variant = "v8"' "$(blob "$(jq -r .config.digest "$(blob "$amd")")")" \
	>"$work/config.json"
cfg=sha256:$(sha256sum <"$work/config.json" | cut -d' ' -f1)
cp "$work/config.json" "$work/arm/blobs/sha256/${cfg#sha256:}"
jq -c --arg d "$cfg" --argjson n "$(stat -c %s "$work/config.json")" \
	'.config.digest = $d | .config.size = $n' "$(blob "$amd")" >"$work/manifest.json"
arm=sha256:$(sha256sum <"$work/manifest.json" | cut -d' ' -f1)
cp "$work/manifest.json" "$work/arm/blobs/sha256/${arm#sha256:}"
jq -c --arg d "$arm" --argjson n "$(stat -c %s "$work/manifest.json")" \
	'.manifests[0].digest = $d | .manifests[0].size = $n' "$src/index.json" >"$work/arm/index.json"
kiln_skopeo copy --quiet --dest-tls-verify=false "oci:$work/arm" "docker://$reg/multi/busybox:arm64" >&2
# The index over both, PUT as the registry API takes it.
mt=application/vnd.oci.image.manifest.v1+json
jq -nc --arg mt "$mt" --arg a "$amd" --arg b "$arm" \
	--argjson na "$(stat -c %s "$(blob "$amd")")" --argjson nb "$(stat -c %s "$work/manifest.json")" \
	'{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [
	  {mediaType: $mt, digest: $a, size: $na, platform: {os: "linux", architecture: "amd64"}},
	  {mediaType: $mt, digest: $b, size: $nb, platform: {os: "linux", architecture: "arm64", variant: "v8"}}]}' \
	>"$work/index.json"
index=sha256:$(sha256sum <"$work/index.json" | cut -d' ' -f1)
curl -fsS -X PUT -H "Content-Type: application/vnd.oci.image.index.v1+json" \
	--data-binary "@$work/index.json" "http://$reg/v2/multi/busybox/manifests/1" >/dev/null ||
	kiln_die "PUT of the index failed"

# pull NAME ARGS...: debug pull into $work/NAME; prints the digest.
pull() {
	local name=$1
	shift
	"$exe" debug pull "$@" --output "$work/$name" 2>"$work/$name.err" ||
		kiln_die "pull $name failed: $(cat "$work/$name.err")"
}
kiln_assert_eq "$arm" "$(pull arm64 --platform linux/arm64 "$reg/multi/busybox:1")" "manifest for linux/arm64"
[[ -f $work/arm64/blobs/sha256/${cfg#sha256:} ]] || kiln_die "the arm64 config was not pulled"
kiln_assert_eq "$amd" "$(pull amd64 --platform linux/amd64 "$reg/multi/busybox:1")" "manifest for linux/amd64"
kiln_assert_eq "$arm" "$(pull variant --platform linux/arm64/v8 "$reg/multi/busybox:1")" "manifest for linux/arm64/v8"
want=$amd
[[ $host_arch == arm64 ]] && want=$arm
kiln_assert_eq "$want" "$(pull host "$reg/multi/busybox:1")" "manifest for the host ($host_arch)"
kiln_assert_eq "$arm" "$(pull by-digest --platform linux/arm64 "$reg/multi/busybox@$index")" \
	"manifest for linux/arm64 by index digest"

# No match: the error lists what the index has.
if "$exe" debug pull --platform linux/s390x "$reg/multi/busybox:1" --output "$work/none" \
	>"$work/none.out" 2>"$work/none.err"; then
	kiln_die "pull for linux/s390x succeeded"
fi
grep -q "has no manifest for platform 'linux/s390x' (it has: linux/amd64, linux/arm64/v8)" "$work/none.err" ||
	kiln_die "no-match: unexpected error: $(cat "$work/none.err")"
[[ ! -s $work/none.out ]] || kiln_die "a failed pull printed a digest"
kiln_log "no match: $(head -1 "$work/none.err")"
kiln_log "PASS"

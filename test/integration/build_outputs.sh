#!/bin/bash
# integration.build_outputs: what a build delivers besides the registry
# push, checked with independent tools: --tar-path (skopeo docker-archive:,
# podman load), --oci-layout-path (skopeo oci:, umoci), kaniko's three
# digest files byte for byte, several destinations, --reproducible (two
# builds, one digest; without it the created times differ), --no-push, and
# a push whose layer streams the registry refused.
set -euo pipefail
# shellcheck source=test/tools/lib.sh
. "${KILN_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/test/tools/lib.sh"
# shellcheck source=test/tools/registry.sh
. "$KILN_SOURCE_DIR/test/tools/registry.sh"
# shellcheck source=test/tools/servers.sh
. "$KILN_SOURCE_DIR/test/tools/servers.sh"

kiln_require_root
kiln_require_cmd docker-registry skopeo umoci podman jq
kiln_on_exit kiln_registry_stop
kiln_make_tmpdir
work=$KILN_TMPDIR
kiln_registry_start
reg=$KILN_REGISTRY
kiln_fixture_push busybox "$reg" library/busybox:latest
ctx=$KILN_SOURCE_DIR/examples/hello

# build NAME FLAGS...: build examples/hello in fresh directories.
build() {
	local name=$1
	shift
	"$KILN_EXECUTOR" --context="dir://$ctx" --build-arg BASE="$reg/library/busybox:latest" \
		--rootfs="$work/$name/root" --kiln-dir="$work/$name/kiln" -v warn "$@"
}

# Two destinations, the digest files, a tarball and a layout in one build.
build full --destination="$reg/app:1" --destination="$reg/other/app" \
	--digest-file="$work/digest" --image-name-with-digest-file="$work/names" \
	--image-name-tag-with-digest-file="$work/tags" \
	--tar-path="$work/image.tar" --oci-layout-path="$work/layout"
digest=$(cat "$work/digest")
[[ $digest =~ ^sha256:[0-9a-f]{64}$ ]] || kiln_die "--digest-file holds '$digest'"
kiln_assert_eq 71 "$(stat -c %s "$work/digest")" "--digest-file size (no newline)"
kiln_assert_eq "$reg/app@$digest
$reg/other/app@$digest" "$(cat "$work/names")" "--image-name-with-digest-file"
kiln_assert_eq "$reg/app:1@$digest
$reg/other/app:latest@$digest" "$(cat "$work/tags")" "--image-name-tag-with-digest-file"
for ref in app:1 other/app:latest; do
	got=$(kiln_skopeo inspect --tls-verify=false "docker://$reg/$ref" | jq -r .Digest)
	kiln_assert_eq "$digest" "$got" "digest of $ref in the registry"
done

# The tarball: skopeo and podman read it; its config is the pushed one.
want_cfg=$(kiln_skopeo inspect --config --tls-verify=false "docker://$reg/app:1" | jq -c .config)
got_cfg=$(kiln_skopeo inspect --config "docker-archive:$work/image.tar" | jq -c .config)
kiln_assert_eq "$want_cfg" "$got_cfg" "config in the --tar-path tarball"
kiln_skopeo copy --quiet "docker-archive:$work/image.tar" "oci:$work/from-tar:x" >&2
podman=(podman --root "$work/podman" --runroot "$work/podman-run" --storage-driver vfs)
"${podman[@]}" load -i "$work/image.tar" >"$work/podman.out" 2>&1 ||
	kiln_die "podman load failed: $(cat "$work/podman.out")"
"${podman[@]}" image inspect "$reg/app:1" --format '{{.Config.User}}' >"$work/podman.user"
kiln_assert_eq app "$(cat "$work/podman.user")" "User of the image podman loaded"
"${podman[@]}" rmi -a -f >/dev/null 2>&1 || true

# The layout: skopeo and umoci read it; the tree is the image's.
kiln_assert_eq "$digest" "$(kiln_skopeo inspect "oci:$work/layout:1" | jq -r .Digest)" \
	"digest in the --oci-layout-path layout"
umoci unpack --image "$work/layout:1" "$work/bundle" >&2
grep -q '@BUILT@' "$work/bundle/rootfs/usr/local/bin/greet" &&
	kiln_die "the RUN of the first stage did not change greet"
kiln_assert_eq "1000:1000 644" "$(stat -c '%u:%g %a' "$work/bundle/rootfs/home/app/words.txt")" \
	"owner and mode of a COPY --chown file"

# --reproducible: the same inputs give the same digest; without it the
# config's created time differs.
build r1 --reproducible --destination="$reg/repro:1" --digest-file="$work/r1.digest"
build r2 --reproducible --destination="$reg/repro:2" --digest-file="$work/r2.digest"
kiln_assert_eq "$(cat "$work/r1.digest")" "$(cat "$work/r2.digest")" "digests of two --reproducible builds"
created=$(kiln_skopeo inspect --config --tls-verify=false "docker://$reg/repro:1" | jq -r .created)
kiln_assert_eq 1970-01-01T00:00:00Z "$created" "created of a --reproducible image"
build n1 --destination="$reg/plain:1" --digest-file="$work/n1.digest"
c1=$(kiln_skopeo inspect --config --tls-verify=false "docker://$reg/plain:1" | jq -r .created)
[[ $c1 != "$created" && $(cat "$work/n1.digest") != $(cat "$work/r1.digest") ]] ||
	kiln_die "a build without --reproducible has the reproducible digest or time"

# --no-push: nothing reaches the registry, the tarball is still written.
build np --no-push --destination="$reg/nopush:1" --tar-path="$work/np.tar"
[[ -s $work/np.tar ]] || kiln_die "--no-push wrote no --tar-path"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$reg/v2/nopush/manifests/1")
kiln_assert_eq 404 "$code" "manifest of a --no-push destination"

# Layers are streamed to the destination while they are compressed. A
# registry that refuses every PATCH (a fault proxy in front of the fixture)
# breaks those streams, never the build: the push at the end sends the
# layer whole (a monolithic PUT) and the image is complete.
kiln_fault_proxy_start "$work/proxy" "$reg" --rate 500=1 --only '^PATCH '
mkdir -p "$work/big"
head -c 20000000 /dev/urandom >"$work/big/blob"
printf 'FROM %s/library/busybox:latest\nCOPY blob /blob\n' "$KILN_PROXY" >"$work/big/Dockerfile"
"$KILN_EXECUTOR" --context="dir://$work/big" --rootfs="$work/nostream/root" \
	--kiln-dir="$work/nostream/kiln" --destination="$KILN_PROXY/nostream:1" -v debug \
	>"$work/nostream.log" 2>&1 || kiln_die "build behind a PATCH-refusing proxy failed: $(tail -3 "$work/nostream.log")"
grep -q 'not streamed (the push will send it)' "$work/nostream.log" ||
	kiln_die "no failed stream in the log: the proxy did not refuse it"
grep -q '^PATCH .* -> 500' "$work/proxy/proxy.log" || kiln_die "the proxy refused no PATCH"
kiln_skopeo copy --quiet --src-tls-verify=false "docker://$reg/nostream:1" "oci:$work/nostream-layout:1"
umoci unpack --image "$work/nostream-layout:1" "$work/nostream-bundle" >&2
cmp "$work/big/blob" "$work/nostream-bundle/rootfs/blob" ||
	kiln_die "the image pushed after a failed stream lacks the layer's file"
kiln_log "ok"

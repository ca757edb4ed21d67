#!/bin/bash
# integration.self_build: kiln builds its own image. The debian:bookworm
# fixture is pushed to the registry fixture and given as BASE; the
# sanitizer-built executor ($KILN_EXECUTOR, --rootfs) builds
# Dockerfile.executor from this source tree (.dockerignore keeps the build
# directories out): apt-get inside RUN installs the build dependencies from
# the Debian mirror the fixture's sources name, cmake/static-deps.sh builds
# libcurl, libarchive and cJSON from `apt-get source`, and the static
# executor is built and stripped. The pushed image is unpacked with umoci and
# checked (only /kiln and /workspace; a static /kiln/executor, the CA bundle,
# an empty /kiln/.docker; Env, Entrypoint, WorkingDir), then the executor
# from the image builds examples/hello on the busybox fixture and pushes it.
# Then the debug target: /busybox (static, its applets as symlinks) on PATH,
# a VOLUME, and a shell that runs in the unpacked image.
# Needs the network (the Debian mirror); takes many minutes.
set -euo pipefail
# shellcheck source=test/tools/lib.sh
. "${KILN_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/test/tools/lib.sh"
# shellcheck source=test/tools/registry.sh
. "$KILN_SOURCE_DIR/test/tools/registry.sh"

kiln_require_root
kiln_require_cmd docker-registry skopeo umoci jq readelf unshare chroot
kiln_on_exit kiln_registry_stop
kiln_make_tmpdir
work=$KILN_TMPDIR
kiln_registry_start
reg=$KILN_REGISTRY
kiln_fixture_push debian "$reg" library/debian:bookworm
kiln_fixture_push busybox "$reg" library/busybox:latest

# --- kiln builds Dockerfile.executor ---------------------------------------------
t0=$SECONDS
code=0
"$KILN_EXECUTOR" --context="dir://$KILN_SOURCE_DIR" --dockerfile=Dockerfile.executor \
	--build-arg BASE="$reg/library/debian:bookworm" --destination="$reg/kiln/executor:test" \
	--digest-file="$work/digest" --rootfs="$work/root" --kiln-dir="$work/kiln" \
	>"$work/build.log" 2>&1 || code=$?
build_time=$((SECONDS - t0))
((code == 0)) || kiln_die "building Dockerfile.executor failed ($code) after ${build_time}s:"$'\n'"$(tail -n 40 "$work/build.log")"
kiln_log "Dockerfile.executor built and pushed in ${build_time}s ($(wc -l <"$work/build.log") log lines)"
grep -E 'INFO.*(digest|layers|total)' "$work/build.log" | tail -n 5 >&2 || true

# --- the image ---------------------------------------------------------------------
kiln_skopeo copy --quiet --src-tls-verify=false "docker://$reg/kiln/executor:test" "oci:$work/layout:kiln" >&2
kiln_assert_eq "$(cat "$work/digest")" "$(kiln_skopeo inspect "oci:$work/layout:kiln" | jq -r .Digest)" \
	"pushed digest"
umoci unpack --image "$work/layout:kiln" "$work/bundle" >&2
rootfs=$work/bundle/rootfs
kiln_assert_eq "kiln workspace" "$(ls "$rootfs" | paste -sd' ')" "top-level entries of the image"
kiln_assert_eq ".docker executor ssl" "$(ls -A "$rootfs/kiln" | paste -sd' ')" "entries of /kiln"
kiln_assert_eq "" "$(ls -A "$rootfs/kiln/.docker")" "/kiln/.docker (empty, for config.json)"
kiln_assert_eq "" "$(ls -A "$rootfs/workspace")" "/workspace"
exe=$rootfs/kiln/executor
[[ -f $exe && -x $exe ]] || kiln_die "/kiln/executor is not an executable file"
kiln_elf_is_static "$exe" || kiln_die "/kiln/executor has a PT_INTERP header"
[[ $(LC_ALL=C readelf -d "$exe" 2>&1) == *"There is no dynamic section"* ]] ||
	kiln_die "/kiln/executor has a dynamic section"
[[ -z $(LC_ALL=C readelf -S "$exe" | grep -w '\.symtab') ]] || kiln_die "/kiln/executor is not stripped"
grep -q 'BEGIN CERTIFICATE' "$rootfs/kiln/ssl/certs/ca-certificates.crt" ||
	kiln_die "/kiln/ssl/certs/ca-certificates.crt holds no certificate"
cfg=$(kiln_skopeo inspect --config "oci:$work/layout:kiln" | jq -c .config)
kiln_assert_eq '["/kiln/executor"]' "$(jq -c .Entrypoint <<<"$cfg")" "Entrypoint"
kiln_assert_eq /workspace "$(jq -r .WorkingDir <<<"$cfg")" "WorkingDir"
kiln_assert_eq '["HOME=/root","USER=root","PATH=/usr/local/bin:/kiln","DOCKER_CONFIG=/kiln/.docker/","SSL_CERT_FILE=/kiln/ssl/certs/ca-certificates.crt"]' \
	"$(jq -c '.Env | sort_by(. as $e | ["HOME","USER","PATH","DOCKER_CONFIG","SSL_CERT_FILE"] | index($e | split("=")[0]))' <<<"$cfg")" "Env"
kiln_log "image: $(du -b "$exe" | cut -f1) bytes of executor; $("$exe" version | head -n 1)"

# --- the image's executor builds examples/hello --------------------------------------
"$exe" --context="dir://$KILN_SOURCE_DIR/examples/hello" --dockerfile=Dockerfile \
	--build-arg BASE="$reg/library/busybox:latest" --destination="$reg/examples/hello:self" \
	--digest-file="$work/hello.digest" --rootfs="$work/hello-root" --kiln-dir="$work/hello-kiln" \
	>"$work/hello.log" 2>&1 || kiln_die "the image's executor failed to build examples/hello: $(tail -n 20 "$work/hello.log")"
kiln_skopeo copy --quiet --src-tls-verify=false "docker://$reg/examples/hello:self" "oci:$work/hello:img" >&2
kiln_assert_eq "$(cat "$work/hello.digest")" "$(kiln_skopeo inspect "oci:$work/hello:img" | jq -r .Digest)" \
	"examples/hello digest"
umoci unpack --image "$work/hello:img" "$work/hello-bundle" >&2
hcfg=$(kiln_skopeo inspect --config "oci:$work/hello:img" | jq -c .config)
kiln_assert_eq '["greet"]' "$(jq -c .Cmd <<<"$hcfg")" "examples/hello Cmd"
kiln_assert_eq app "$(jq -r .User <<<"$hcfg")" "examples/hello User"
grep -q '3 words' "$work/hello-bundle/rootfs/usr/local/bin/greet" ||
	kiln_die "examples/hello: greet was not assembled by the first stage"

# --- the debug target ----------------------------------------------------------------
t0=$SECONDS
"$KILN_EXECUTOR" --context="dir://$KILN_SOURCE_DIR" --dockerfile=Dockerfile.executor --target=debug \
	--build-arg BASE="$reg/library/debian:bookworm" --destination="$reg/kiln/executor:test-debug" \
	--rootfs="$work/root-debug" --kiln-dir="$work/kiln-debug" >"$work/build-debug.log" 2>&1 ||
	kiln_die "building the debug target failed: $(tail -n 40 "$work/build-debug.log")"
debug_time=$((SECONDS - t0))
kiln_skopeo copy --quiet --src-tls-verify=false "docker://$reg/kiln/executor:test-debug" \
	"oci:$work/layout:debug" >&2
umoci unpack --image "$work/layout:debug" "$work/bundle-debug" >&2
drootfs=$work/bundle-debug/rootfs
kiln_assert_eq "busybox kiln workspace" "$(ls "$drootfs" | paste -sd' ')" "top-level entries of the debug image"
kiln_elf_is_static "$drootfs/busybox/busybox" || kiln_die "/busybox/busybox is not static"
kiln_assert_eq busybox "$(readlink "$drootfs/busybox/sh")" "/busybox/sh"
dcfg=$(kiln_skopeo inspect --config "oci:$work/layout:debug" | jq -c .config)
kiln_assert_eq '["/kiln/executor"]' "$(jq -c .Entrypoint <<<"$dcfg")" "debug Entrypoint"
kiln_assert_eq '{"/busybox":{}}' "$(jq -c .Volumes <<<"$dcfg")" "debug Volumes"
kiln_assert_eq PATH=/usr/local/bin:/kiln:/busybox "$(jq -r '.Env[] | select(startswith("PATH="))' <<<"$dcfg")" \
	"debug PATH"
out=$(unshare --mount --pid --fork chroot "$drootfs" /busybox/sh -c \
	'PATH=/busybox; echo $(ls /kiln) $(grep -c BEGIN /kiln/ssl/certs/ca-certificates.crt)')
[[ $out == "executor ssl "[1-9]* ]] || kiln_die "the debug image's shell printed '$out'"
kiln_log "debug target built in ${debug_time}s; its shell runs"
kiln_log "PASS: self-build ${build_time}s, debug target ${debug_time}s; examples/hello built by the image's executor"

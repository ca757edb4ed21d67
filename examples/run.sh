#!/bin/bash
# kiln's main job end to end on an embedded default, set-up included:
# install the packages, build the executor, start a local registry on
# 127.0.0.1, make the busybox base image locally and push it there, build
# examples/hello (a two-stage Dockerfile: COPY, RUN, ENV, USER, WORKDIR,
# CMD) with the executor and push it, build it again from the layer cache
# (every step a hit, the same digest), then check the result with skopeo and
# umoci and run the image's command. Prints each step.
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$src"
export KILN_SOURCE_DIR=$src KILN_FORBID_ROOT_SLASH=1

step() { printf '\n==> %s\n' "$*"; }

step "installing build and test packages (test/tools/install-deps.sh)"
bash test/tools/install-deps.sh

step "building build/executor"
cmake -S . -B build >/dev/null
cmake --build build -j "$(nproc)" --target executor >/dev/null
./build/executor version

# shellcheck source=../test/tools/lib.sh
. test/tools/lib.sh
# shellcheck source=../test/tools/registry.sh
. test/tools/registry.sh
trap kiln_registry_stop EXIT

step "starting a local registry"
kiln_registry_start
echo "registry at $KILN_REGISTRY (pid $KILN_REGISTRY_PID, storage $KILN_REGISTRY_DIR)"

step "making the busybox base image and pushing it to $KILN_REGISTRY/library/busybox:latest"
kiln_fixture_push busybox "$KILN_REGISTRY" library/busybox:latest

work=$(mktemp -d /tmp/kiln-example.XXXXXX)
trap 'kiln_registry_stop; rm -rf "$work"' EXIT
image=$KILN_REGISTRY/examples/hello:latest

step "building examples/hello with the executor and pushing it to $image"
# --rootfs: build in a directory (the product runs in a container, where
# ROOT is "/"); --kiln-dir: kiln's scratch space, outside ROOT.
./build/executor \
	--context=dir://"$src/examples/hello" \
	--dockerfile=Dockerfile \
	--build-arg BASE="$KILN_REGISTRY/library/busybox:latest" \
	--destination="$image" \
	--digest-file="$work/digest" \
	--cache --cache-copy-layers --reproducible \
	--rootfs="$work/root" --kiln-dir="$work/kiln"
echo "pushed $image@$(cat "$work/digest")"

step "building it again, as a new CI job would: every step comes from the cache"
# a fresh ROOT and kiln dir: the registry is all the two builds share
./build/executor \
	--context=dir://"$src/examples/hello" \
	--dockerfile=Dockerfile \
	--build-arg BASE="$KILN_REGISTRY/library/busybox:latest" \
	--destination="$image" \
	--digest-file="$work/digest2" \
	--cache --cache-copy-layers --reproducible \
	--rootfs="$work/root2" --kiln-dir="$work/kiln2" 2>&1 | tee "$work/rebuild.log" |
	grep -E 'caching version|No cached layer|fully cached|Cache:' || true
grep -q 'Cache: [1-9][0-9]* hits, 0 misses' "$work/rebuild.log" || kiln_die "the rebuild missed the cache"
[[ $(cat "$work/digest2") == "$(cat "$work/digest")" ]] || kiln_die "the rebuild's digest differs"
echo "same image: $(cat "$work/digest2")"

step "the pushed image, as skopeo sees it"
skopeo inspect --tls-verify=false "docker://$image" | jq '{Digest, Architecture, Os, Layers}'
skopeo inspect --tls-verify=false --config "docker://$image" |
	jq -c '.config | {User, WorkingDir, Cmd, Env}'

step "unpacking it with umoci and running its command"
skopeo copy --quiet --src-tls-verify=false "docker://$image" "oci:$work/layout:hello"
umoci unpack --image "$work/layout:hello" "$work/bundle" >/dev/null
config=$(skopeo inspect --config "oci:$work/layout:hello")
mapfile -t env < <(jq -r '.config.Env[]' <<<"$config")
user=$(jq -r '.config.User' <<<"$config")
cmd=$(jq -r '.config.Cmd[0]' <<<"$config")
uid=$(awk -F: -v u="$user" '$1 == u { print $3 ":" $4 }' "$work/bundle/rootfs/etc/passwd")
out=$(unshare --mount --pid --fork chroot --userspec="$uid" "$work/bundle/rootfs" \
	/bin/busybox env -i "${env[@]}" HOME=/home/app sh -c 'cd /home/app && exec "$0"' "$cmd")
printf '%s\n' "$out"
grep -q "hello from kiln (built with 3 words) as app" <<<"$out" || kiln_die "unexpected output"

step "done: the executor is build/executor; stopping the registry"

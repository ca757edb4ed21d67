#!/bin/bash
# kiln's main job end to end on an embedded default, set-up included:
# install the packages, build the executor, start a local registry on
# 127.0.0.1, make the busybox base image locally and push it there, then
# check what the executor sees of it. Prints each step.
#
# The build engine is not in this version yet: once it lands this script
# builds examples/hello with `executor --context ... --destination ...` and
# runs the result. Until then it stops after checking the registry path
# (reachability from the executor, the pushed base image's manifest).
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

step "checking the registry from the executor"
./build/executor debug probe "$KILN_REGISTRY_URL/v2/"

step "the pushed image, as skopeo sees it"
skopeo inspect --tls-verify=false "docker://$KILN_REGISTRY/library/busybox:latest" |
	jq '{Digest, Architecture, Os, Layers}'
skopeo inspect --tls-verify=false --config "docker://$KILN_REGISTRY/library/busybox:latest" |
	jq -c '.config | {Cmd, Env}'

step "done: the executor is build/executor; stopping the registry"

#!/bin/bash
# integration.debian_fixture: builds (or reuses) the debian:bookworm fixture
# (debootstrap minbase, minutes when cold), pushes it to a registry fixture,
# inspects it, pulls it back and unpacks it with umoci, and checks it is
# Debian 12 with bash.
set -euo pipefail
# shellcheck source=test/tools/lib.sh
. "${KILN_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/test/tools/lib.sh"
# shellcheck source=test/tools/registry.sh
. "$KILN_SOURCE_DIR/test/tools/registry.sh"

kiln_require_root
kiln_require_cmd docker-registry skopeo umoci debootstrap curl jq
kiln_on_exit kiln_registry_stop
kiln_make_tmpdir
work=$KILN_TMPDIR

t0=$SECONDS
kiln_fixture debian
layout=$KILN_FIXTURE_DIR
kiln_log "debian fixture ready in $((SECONDS - t0)) s: $layout"

kiln_registry_start || kiln_die "could not start the registry fixture"
reg=$KILN_REGISTRY pid=$KILN_REGISTRY_PID config=$KILN_REGISTRY_CONFIG
kiln_fixture_push debian "$reg" library/debian:bookworm

want_manifest=$(jq -r '.manifests[0].digest' "$layout/index.json")
info=$(kiln_skopeo inspect --tls-verify=false "docker://$reg/library/debian:bookworm")
kiln_assert_eq "$want_manifest" "$(jq -r .Digest <<<"$info")" "pushed manifest digest"
kiln_assert_eq 1 "$(jq '.Layers | length' <<<"$info")" "number of layers"
kiln_assert_eq "$(kiln_oci_arch)" "$(jq -r .Architecture <<<"$info")" "architecture"
kiln_assert_eq linux "$(jq -r .Os <<<"$info")" "os"
cfg=$(kiln_skopeo inspect --config --tls-verify=false "docker://$reg/library/debian:bookworm")
kiln_assert_eq '["bash"]' "$(jq -c .config.Cmd <<<"$cfg")" "config Cmd"

# Pull it back from the registry and unpack it.
kiln_skopeo copy --quiet --src-tls-verify=false "docker://$reg/library/debian:bookworm" \
	"oci:$work/pulled:debian" >&2
umoci unpack --image "$work/pulled:debian" "$work/bundle" >&2
rootfs=$work/bundle/rootfs

version=$(cat "$rootfs/etc/debian_version")
[[ $version == 12* ]] || kiln_die "/etc/debian_version is '$version', want 12.x"
# /bin is a relative symlink (usr/bin) on merged-/usr systems; refuse an
# absolute one rather than follow it out of the rootfs.
if [[ -L $rootfs/bin ]]; then
	target=$(readlink "$rootfs/bin")
	[[ $target != /* ]] || kiln_die "/bin is an absolute symlink ($target)"
fi
[[ -f $rootfs/bin/bash && -x $rootfs/bin/bash ]] || kiln_die "/bin/bash missing in the unpacked image"
[[ -z $(ls -A "$rootfs/dev") ]] || kiln_die "/dev is not empty in the image: $(ls -A "$rootfs/dev")"
[[ -f $rootfs/usr/bin/apt-get ]] || kiln_die "apt-get missing: not a minbase Debian"

kiln_registry_stop
kiln_assert_process_gone "$pid" "docker-registry serve $config"
kiln_log "PASS"

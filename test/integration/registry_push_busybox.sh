#!/bin/bash
# integration.registry_push_busybox: the registry fixture and the busybox
# image fixture work together. Starts a plain-HTTP registry, pushes the
# busybox fixture with skopeo, reads manifest and config back, checks them
# against the OCI layout, stops the registry and checks nothing is left.
set -euo pipefail
# shellcheck source=test/tools/lib.sh
. "${KILN_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/test/tools/lib.sh"
# shellcheck source=test/tools/registry.sh
. "$KILN_SOURCE_DIR/test/tools/registry.sh"

kiln_require_cmd docker-registry skopeo umoci curl jq sha256sum
kiln_on_exit kiln_registry_stop
kiln_make_tmpdir
work=$KILN_TMPDIR

kiln_fixture busybox
layout=$KILN_FIXTURE_DIR
kiln_registry_start || kiln_die "could not start the registry fixture"
reg=$KILN_REGISTRY pid=$KILN_REGISTRY_PID config=$KILN_REGISTRY_CONFIG dir=$KILN_REGISTRY_DIR
kiln_log "registry $reg (pid $pid)"

kiln_fixture_push busybox "$reg" kiln-test/busybox:1

# The registry lists the tag.
tags=$(curl -fsS "http://$reg/v2/kiln-test/busybox/tags/list" | jq -c '.tags')
kiln_assert_eq '["1"]' "$tags" "tags of kiln-test/busybox"

# What the layout holds: the manifest pushed must be the same bytes.
want_manifest=$(jq -r '.manifests[0].digest' "$layout/index.json")
want_layers=$(jq -c '[.layers[].digest]' "$layout/blobs/sha256/${want_manifest#sha256:}")

# Hash the bytes as they come ($(...) would drop a trailing newline).
kiln_skopeo inspect --raw --tls-verify=false "docker://$reg/kiln-test/busybox:1" >"$work/manifest.json"
raw=$(cat "$work/manifest.json")
got=sha256:$(sha256sum <"$work/manifest.json" | cut -d' ' -f1)
kiln_assert_eq "$want_manifest" "$got" "digest of the raw manifest in the registry"
kiln_assert_eq application/vnd.oci.image.manifest.v1+json \
	"$(jq -r '.mediaType // "application/vnd.oci.image.manifest.v1+json"' <<<"$raw")" "manifest mediaType"

info=$(kiln_skopeo inspect --tls-verify=false "docker://$reg/kiln-test/busybox:1")
kiln_assert_eq "$want_manifest" "$(jq -r '.Digest' <<<"$info")" "skopeo inspect .Digest"
kiln_assert_eq "$want_layers" "$(jq -c '.Layers' <<<"$info")" "skopeo inspect .Layers"
kiln_assert_eq 1 "$(jq '.Layers | length' <<<"$info")" "number of layers"
kiln_assert_eq "$(kiln_oci_arch)" "$(jq -r '.Architecture' <<<"$info")" "architecture"
kiln_assert_eq linux "$(jq -r '.Os' <<<"$info")" "os"

cfg=$(kiln_skopeo inspect --config --tls-verify=false "docker://$reg/kiln-test/busybox:1")
kiln_assert_eq '["sh"]' "$(jq -c '.config.Cmd' <<<"$cfg")" "config Cmd"
kiln_assert_eq '["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]' \
	"$(jq -c '.config.Env' <<<"$cfg")" "config Env"
kiln_assert_eq 1 "$(jq '.rootfs.diff_ids | length' <<<"$cfg")" "number of diff_ids"

# The layer came through intact: pull it back into a fresh layout and let
# umoci verify and unpack it.
kiln_skopeo copy --quiet --src-tls-verify=false "docker://$reg/kiln-test/busybox:1" \
	"oci:$work/pulled:busybox" >&2
if [[ $(id -u) == 0 ]]; then
	umoci unpack --image "$work/pulled:busybox" "$work/bundle" >&2
else
	umoci unpack --rootless --image "$work/pulled:busybox" "$work/bundle" >&2
fi
rootfs=$work/bundle/rootfs
[[ -f $rootfs/bin/busybox && -x $rootfs/bin/busybox ]] || kiln_die "bin/busybox missing in the unpacked image"
kiln_assert_eq /bin/busybox "$(readlink "$rootfs/bin/sh")" "bin/sh link"
kiln_assert_eq 1777 "$(stat -c %a "$rootfs/tmp")" "mode of /tmp"
grep -q '^nobody:x:65534:65534:' "$rootfs/etc/passwd" || kiln_die "no nobody (65534) in /etc/passwd"
grep -q '^root:x:0:0:' "$rootfs/etc/passwd" || kiln_die "no root in /etc/passwd"

# Stopping leaves nothing behind, and stopping twice is harmless.
kiln_registry_stop
kiln_registry_stop
kiln_assert_process_gone "$pid" "docker-registry serve $config"
[[ ! -e $dir ]] || kiln_die "registry dir $dir still exists after kiln_registry_stop"
[[ -z ${KILN_REGISTRY:-} ]] || kiln_die "KILN_REGISTRY still set after kiln_registry_stop"
if curl -s -o /dev/null --max-time 2 "http://$reg/v2/"; then
	kiln_die "something still answers on $reg after kiln_registry_stop"
fi
kiln_log "PASS"
